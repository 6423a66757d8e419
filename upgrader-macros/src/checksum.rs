//! The upgrade's fingerprint: FNV-1a (64 bits) over a canonical rendering of its tokens.
//!
//! What is hashed: the signature, the body, and the attribute's arguments (as parsed, in a fixed
//! order) but `lock_timeout` and `retries`, which say how it waits, not what it does. Not hashed:
//! doc comments and other attributes on the function, and its visibility.
//!
//! The rendering is built from the token trees, not from source text or `to_string`: each ident,
//! literal and punctuation character is written with one space after it, and each group as its
//! delimiters around its contents. So whitespace, comments and line breaks never count, and
//! neither do the trailing commas rustfmt adds or removes when it breaks or joins a list:
//! - a comma closing a `{}` or `[]` group;
//! - a comma closing a `()` group holding more than one element, or following a name, a `!` or
//!   another group (a call or a signature, `f(a,)`), but not elsewhere, where `(a,)` is a
//!   one-element tuple and differs from `(a)`;
//! - a comma right after a `{}` group inside a `{}` group (a match arm written as a block).
//!
//! Joint and separate punctuation render the same (`x=-1` and `x = -1` must agree), so `&&x` and
//! `& &x` do too; both type-check to the same value in nearly every program, and this is a
//! change detector, not a proof.

use proc_macro2::{Delimiter, Ident, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::ItemFn;

use crate::args::Args;

/// The fingerprint of `function` under `args`, as 16 lowercase hex digits.
pub(crate) fn checksum(args: &Args, function: &ItemFn) -> String {
    let mut text = String::new();
    render(function.sig.to_token_stream(), Within::Nothing, &mut text);
    render(function.block.to_token_stream(), Within::Nothing, &mut text);
    render(canonical_args(args), Within::Nothing, &mut text);
    format!("{:016x}", fnv1a(text.as_bytes()))
}

/// The arguments in a fixed order, without the ones left out (`depends_on = []` and no
/// `depends_on` are the same upgrade).
fn canonical_args(args: &Args) -> TokenStream {
    let mut tokens = TokenStream::new();
    let deps = &args.depends_on;
    if !deps.is_empty() {
        tokens.extend(quote!(depends_on = [#(#deps),*]));
    }
    let hooks = [
        ("estimate", &args.estimate),
        ("pre_upgrade", &args.pre_upgrade),
        ("post_upgrade", &args.post_upgrade),
    ];
    for (name, path) in hooks {
        if let Some(path) = path {
            let name = Ident::new(name, proc_macro2::Span::call_site());
            tokens.extend(quote!(#name = #path));
        }
    }
    // `transaction = true` is the default, the same upgrade as no argument.
    if args.transaction.as_ref().is_some_and(|lit| !lit.value) {
        tokens.extend(quote!(transaction = false));
    }
    tokens
}

/// Where a token stream sits, for the trailing-comma rules.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Within {
    /// The top level, or an invisible group (a `macro_rules!` fragment).
    Nothing,
    /// `{}`.
    Braces,
    /// `[]`.
    Brackets,
    /// `()` after a name, a `!` or a group: a call, a tuple struct or a parameter list.
    Arguments,
    /// Any other `()`: a tuple, or parentheses.
    Parentheses,
}

/// Appends the canonical rendering of `stream` to `out`.
fn render(stream: TokenStream, within: Within, out: &mut String) {
    let tokens: Vec<TokenTree> = stream.into_iter().collect();
    let commas = tokens.iter().filter(|t| is_comma(t)).count();
    for (i, token) in tokens.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| &tokens[p]);
        match token {
            TokenTree::Group(group) => {
                let (open, close, inner) = match group.delimiter() {
                    Delimiter::Parenthesis if is_argument_list(previous) => ("( ", ") ", Within::Arguments),
                    Delimiter::Parenthesis => ("( ", ") ", Within::Parentheses),
                    Delimiter::Brace => ("{ ", "} ", Within::Braces),
                    Delimiter::Bracket => ("[ ", "] ", Within::Brackets),
                    Delimiter::None => ("", "", Within::Nothing),
                };
                out.push_str(open);
                render(group.stream(), inner, out);
                out.push_str(close);
            }
            TokenTree::Punct(_)
                if is_comma(token) && optional_comma(within, previous, i + 1 == tokens.len(), commas) => {}
            TokenTree::Punct(punct) => {
                out.push(punct.as_char());
                out.push(' ');
            }
            TokenTree::Ident(ident) => {
                out.push_str(&ident.to_string());
                out.push(' ');
            }
            TokenTree::Literal(literal) => {
                out.push_str(&literal.to_string());
                out.push(' ');
            }
        }
    }
}

fn is_comma(token: &TokenTree) -> bool {
    matches!(token, TokenTree::Punct(p) if p.as_char() == ',')
}

/// Whether a comma is one of those rustfmt adds or removes (see the module docs): `previous` is
/// the token before it, `last` whether it ends its group, `commas` how many commas the group has.
fn optional_comma(within: Within, previous: Option<&TokenTree>, last: bool, commas: usize) -> bool {
    let after_block = matches!(previous, Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace);
    match within {
        Within::Braces => last || after_block,
        Within::Brackets | Within::Arguments => last,
        Within::Parentheses => last && commas > 1,
        Within::Nothing => false,
    }
}

/// Whether a `()` group after `previous` is a call, a tuple struct or a parameter list, where a
/// single trailing comma does not make a tuple.
fn is_argument_list(previous: Option<&TokenTree>) -> bool {
    match previous {
        Some(TokenTree::Ident(ident)) => !is_keyword(&ident.to_string()),
        Some(TokenTree::Punct(punct)) => punct.as_char() == '!',
        Some(TokenTree::Group(group)) => group.delimiter() != Delimiter::Brace,
        _ => false,
    }
}

/// Keywords after which `(a,)` is a tuple (`return (a,)`, `let (a,) = ..`, `in (a,)`).
fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "as" | "async"
            | "await"
            | "box"
            | "break"
            | "const"
            | "continue"
            | "crate"
            | "do"
            | "dyn"
            | "else"
            | "enum"
            | "extern"
            | "false"
            | "fn"
            | "for"
            | "gen"
            | "if"
            | "impl"
            | "in"
            | "let"
            | "loop"
            | "match"
            | "mod"
            | "move"
            | "mut"
            | "pub"
            | "ref"
            | "return"
            | "self"
            | "Self"
            | "static"
            | "struct"
            | "super"
            | "trait"
            | "true"
            | "try"
            | "type"
            | "unsafe"
            | "use"
            | "where"
            | "while"
            | "yield"
    )
}

/// FNV-1a, 64 bits.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    use super::checksum;
    use crate::args::Args;

    fn of(args: TokenStream, function: &str) -> String {
        let args: Args = syn::parse2(args).unwrap();
        checksum(&args, &syn::parse_str(function).unwrap())
    }

    fn plain(function: &str) -> String {
        of(quote!(), function)
    }

    // How an upgrade waits for locks is not what it does: tuning it after it was applied is no
    // edit.
    #[test]
    fn lock_timeout_and_retries_are_not_hashed() {
        assert_eq!(
            of(quote!(lock_timeout = "5s", retries = 3), UPGRADE),
            plain(UPGRADE)
        );
        assert_eq!(
            of(
                quote!(depends_on = [a_2024_01_01_x], lock_timeout = "1s"),
                UPGRADE
            ),
            of(quote!(depends_on = [a_2024_01_01_x]), UPGRADE)
        );
    }

    const UPGRADE: &str = r#"
        /// Add the `version_id` column.
        pub fn records_2024_03_05_add_version_id(ctx: &mut Context) -> Result<()> {
            let count = ctx.query_i64("SELECT COUNT(*) AS value FROM records")?.unwrap_or(0);
            if count > 0 && count < 10 { ctx.log(&format!("{count} rows")); }
            let pair: (i64,) = (count,);
            let closure = |x: &Vec<Vec<u8>>| -> usize { x.len() };
            match count { 0 => { ctx.log("none") }, _ => ctx.log("some"), }
            ctx.execute("ALTER TABLE records_metadata ADD COLUMN version_id BIGINT")?;
            Ok(())
        }
    "#;

    #[test]
    fn sixteen_lowercase_hex_digits() {
        let sum = plain(UPGRADE);
        assert_eq!(sum.len(), 16);
        assert!(
            sum.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{sum}"
        );
    }

    #[test]
    fn reformatting_keeps_the_checksum() {
        let reformatted = r#"
        /// Add the `version_id` column.
        pub fn records_2024_03_05_add_version_id(
            ctx: &mut Context,
        ) -> Result<()>
        {
            // A comment changes nothing.
            let count = ctx
                .query_i64( "SELECT COUNT(*) AS value FROM records" )?
                .unwrap_or(0);
            if count>0&&count<10 {
                ctx.log(&format!(
                    "{count} rows",
                ));
            }
            let pair:(i64,)=(count,);
            let closure = |x:&Vec<Vec<u8> >|->usize{x.len()};
            match count {
                0 => {
                    ctx.log("none")
                }
                _ => ctx.log("some"),
            }
            ctx.execute(
                "ALTER TABLE records_metadata ADD COLUMN version_id BIGINT",
            )?;
            Ok(())
        }
    "#;
        assert_eq!(plain(UPGRADE), plain(reformatted));
    }

    #[test]
    fn docs_attributes_and_visibility_do_not_count() {
        let other = UPGRADE
            .replace(
                "/// Add the `version_id` column.",
                "/// Adds a column.\n#[allow(unused)]",
            )
            .replace("pub fn", "pub(crate) fn");
        assert_eq!(plain(UPGRADE), plain(&other));
    }

    #[test]
    fn editing_the_body_changes_the_checksum() {
        let edits = [
            ("BIGINT", "INTEGER"),
            ("count > 0", "count >= 0"),
            ("unwrap_or(0)", "unwrap_or(1)"),
            ("Ok(())", "Ok::<(), _>(())"),
            ("(i64,) = (count,)", "i64 = (count)"),
            ("ctx: &mut Context", "context: &mut Context"),
        ];
        for (from, to) in edits {
            assert!(UPGRADE.contains(from), "{from}");
            assert_ne!(
                plain(UPGRADE),
                plain(&UPGRADE.replace(from, to)),
                "{from} -> {to}"
            );
        }
    }

    #[test]
    fn a_one_element_tuple_is_not_a_parenthesised_value() {
        let tuple = "fn f(ctx: &mut Context) -> Result<()> { let t = (1,); return (t,); }";
        let value = "fn f(ctx: &mut Context) -> Result<()> { let t = (1); return (t); }";
        assert_ne!(plain(tuple), plain(value));
    }

    #[test]
    fn arguments_count_in_a_fixed_order() {
        let f = "fn f(ctx: &mut Context) -> Result<()> { Ok(()) }";
        assert_eq!(of(quote!(), f), of(quote!(depends_on = []), f));
        assert_eq!(
            of(quote!(depends_on = [a, b,], estimate = e, pre_upgrade = p), f),
            of(quote!(pre_upgrade = p, estimate = e, depends_on = [a, b]), f),
        );
        assert_ne!(of(quote!(depends_on = [a]), f), of(quote!(), f));
        assert_ne!(
            of(quote!(depends_on = [a, b]), f),
            of(quote!(depends_on = [b, a]), f)
        );
        assert_ne!(of(quote!(estimate = e), f), of(quote!(pre_upgrade = e), f));
    }
}
