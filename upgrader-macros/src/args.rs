//! The attribute's arguments: `depends_on = [paths]`, `estimate = path`, `pre_upgrade = path`,
//! `post_upgrade = path` and `transaction = bool`, in any order, each at most once, all optional.

use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{ExprPath, Ident, LitBool, Path, Token, bracketed};

use crate::validate::Errors;

/// What `#[upgrade(...)]` says.
#[derive(Default)]
pub(crate) struct Args {
    /// The upgrades this one needs applied first; empty when the argument is left out.
    pub(crate) depends_on: Vec<Path>,
    /// `fn(&mut Context) -> Result<Duration>`.
    pub(crate) estimate: Option<ExprPath>,
    /// `fn(&mut Context) -> Result<()>`, run before anything of the run is applied.
    pub(crate) pre_upgrade: Option<ExprPath>,
    /// `fn(&mut Context) -> Result<()>`, run after the last upgrade of the run.
    pub(crate) post_upgrade: Option<ExprPath>,
    /// `transaction = false`: the upgrade runs outside a transaction (`None` when left out).
    pub(crate) transaction: Option<LitBool>,
}

const KNOWN: &str = "`depends_on`, `estimate`, `pre_upgrade`, `post_upgrade` or `transaction`";

impl Parse for Args {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = Args::default();
        let mut errors = Errors::default();
        if let Err(err) = parse_into(input, &mut args, &mut errors) {
            errors.push(err);
        }
        errors.finish()?;
        Ok(args)
    }
}

/// Parses `name = value` pairs; an unknown or repeated name is recorded in `errors` and parsing
/// goes on, so every such mistake is reported at once. Malformed syntax stops it.
fn parse_into(input: ParseStream<'_>, args: &mut Args, errors: &mut Errors) -> syn::Result<()> {
    let mut seen: Vec<String> = Vec::new();
    while !input.is_empty() {
        // `parse_any` so a keyword (`type = ...`) gets "unknown argument", not "expected identifier".
        let name = input.call(Ident::parse_any)?;
        let key = name.to_string();
        if !matches!(
            key.as_str(),
            "depends_on" | "estimate" | "pre_upgrade" | "post_upgrade" | "transaction"
        ) {
            errors.push(syn::Error::new_spanned(
                &name,
                format!("unknown argument `{key}`, expected {KNOWN}"),
            ));
            skip_value(input)?;
        } else {
            if seen.contains(&key) {
                errors.push(syn::Error::new_spanned(
                    &name,
                    format!("duplicate argument `{key}`"),
                ));
            }
            seen.push(key.clone());
            if key == "transaction" {
                if let Some(value) = parse_transaction(input, &name, errors)? {
                    args.transaction = Some(value);
                }
                if input.is_empty() {
                    break;
                }
                input.parse::<Token![,]>()?;
                continue;
            }
            input.parse::<Token![=]>()?;
            match key.as_str() {
                "depends_on" => {
                    let content;
                    bracketed!(content in input);
                    let paths = Punctuated::<Path, Token![,]>::parse_terminated_with(
                        &content,
                        Path::parse_mod_style,
                    )?;
                    args.depends_on = paths.into_iter().collect();
                }
                "estimate" => args.estimate = Some(input.parse()?),
                "pre_upgrade" => args.pre_upgrade = Some(input.parse()?),
                _ => args.post_upgrade = Some(input.parse()?),
            }
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(())
}

/// `transaction = true | false`. A missing or malformed value is recorded in `errors` under the
/// offending token (the name when there is no value) and skipped, so parsing goes on.
fn parse_transaction(
    input: ParseStream<'_>,
    name: &Ident,
    errors: &mut Errors,
) -> syn::Result<Option<LitBool>> {
    if input.is_empty() || input.peek(Token![,]) {
        errors.push(syn::Error::new_spanned(
            name,
            "`transaction` needs a value: `transaction = false` runs the upgrade outside a transaction",
        ));
        return Ok(None);
    }
    input.parse::<Token![=]>()?;
    let mut value = proc_macro2::TokenStream::new();
    while !input.is_empty() && !input.peek(Token![,]) {
        value.extend([input.parse::<proc_macro2::TokenTree>()?]);
    }
    if let Ok(lit) = syn::parse2::<LitBool>(value.clone()) {
        return Ok(Some(lit));
    }
    let message = "`transaction` takes `true` or `false` (`transaction = false` runs the upgrade outside a transaction)";
    errors.push(if value.is_empty() {
        syn::Error::new_spanned(name, message)
    } else {
        syn::Error::new_spanned(value, message)
    });
    Ok(None)
}

/// Skips the `= value` of an unknown argument, up to the next top-level comma.
fn skip_value(input: ParseStream<'_>) -> syn::Result<()> {
    while !input.is_empty() && !input.peek(Token![,]) {
        input.parse::<proc_macro2::TokenTree>()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use quote::{ToTokens, quote};

    use super::Args;

    fn parse(tokens: proc_macro2::TokenStream) -> syn::Result<Args> {
        syn::parse2(tokens)
    }

    #[test]
    fn empty_arguments_mean_no_dependencies() {
        let args = parse(quote!()).unwrap();
        assert!(args.depends_on.is_empty());
        assert!(args.estimate.is_none() && args.pre_upgrade.is_none() && args.post_upgrade.is_none());
    }

    #[test]
    fn every_argument_in_any_order() {
        let args = parse(quote!(
            post_upgrade = checks::after,
            depends_on = [a_2024_01_01_x, super::b_2024_01_01_y, crate::c::c_2024_01_01_z,],
            estimate = estimate,
            pre_upgrade = before,
        ))
        .unwrap();
        let deps: Vec<String> = args
            .depends_on
            .iter()
            .map(|p| p.to_token_stream().to_string().replace(' ', ""))
            .collect();
        assert_eq!(
            deps,
            [
                "a_2024_01_01_x",
                "super::b_2024_01_01_y",
                "crate::c::c_2024_01_01_z"
            ]
        );
        assert!(args.estimate.is_some() && args.pre_upgrade.is_some() && args.post_upgrade.is_some());
    }

    #[test]
    fn unknown_and_duplicate_arguments_are_reported_together() {
        let err = parse(quote!(depends_on = [], colour = "blue", type = 1, depends_on = []))
            .err()
            .unwrap();
        let messages: Vec<String> = err.into_iter().map(|e| e.to_string()).collect();
        assert_eq!(
            messages,
            [
                "unknown argument `colour`, expected `depends_on`, `estimate`, `pre_upgrade`, `post_upgrade` or `transaction`",
                "unknown argument `type`, expected `depends_on`, `estimate`, `pre_upgrade`, `post_upgrade` or `transaction`",
                "duplicate argument `depends_on`",
            ]
        );
    }

    #[test]
    fn transaction_takes_a_bool() {
        let args = parse(quote!(transaction = false, depends_on = [a_2024_01_01_x])).unwrap();
        assert!(!args.transaction.unwrap().value);
        assert!(
            parse(quote!(transaction = true))
                .unwrap()
                .transaction
                .unwrap()
                .value
        );
        assert!(parse(quote!()).unwrap().transaction.is_none());
    }

    #[test]
    fn a_malformed_transaction_is_reported_with_the_other_mistakes() {
        for (tokens, first) in [
            (
                quote!(transaction = "no", colour = 1),
                "`transaction` takes `true` or `false`",
            ),
            (
                quote!(transaction = 1, colour = 1),
                "`transaction` takes `true` or `false`",
            ),
            (
                quote!(transaction = no, colour = 1),
                "`transaction` takes `true` or `false`",
            ),
            (
                quote!(transaction = !false, colour = 1),
                "`transaction` takes `true` or `false`",
            ),
            (quote!(transaction, colour = 1), "`transaction` needs a value"),
        ] {
            let messages: Vec<String> = parse(tokens.clone())
                .err()
                .unwrap()
                .into_iter()
                .map(|e| e.to_string())
                .collect();
            assert_eq!(messages.len(), 2, "{tokens}: {messages:?}");
            assert!(messages[0].starts_with(first), "{tokens}: {messages:?}");
            assert!(
                messages[1].starts_with("unknown argument `colour`"),
                "{messages:?}"
            );
        }
        let err = parse(quote!(transaction = false, transaction = false))
            .err()
            .unwrap();
        assert_eq!(err.to_string(), "duplicate argument `transaction`");
    }

    #[test]
    fn malformed_value_is_an_error() {
        assert!(parse(quote!(depends_on = a_2024_01_01_x)).is_err());
        assert!(parse(quote!(depends_on = [a::<T>])).is_err());
        assert!(parse(quote!(estimate = 1 + 2)).is_err());
        assert!(parse(quote!(depends_on)).is_err());
    }
}
