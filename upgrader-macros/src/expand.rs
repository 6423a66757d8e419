//! The expansion of `#[upgrade(...)] fn name(...)`.
//!
//! ```text
//! fn name(...) { ... }                                // unchanged
//! use upgrader_core::__private::dependency as name;   // hidden: `name!`, in the macro namespace
//! const NAME: usize = dep! { DEP } + 1;               // hidden; `1` for no dependency, and
//!                                                     // `depth(&[..])` (a local) for several
//! inventory::submit! {
//!     Registration {
//!         upgrade: upgrade(Parts { id: "name", run: name, depends_on: &["dep"], .., source:
//!             Source { file: "src/x.rs", line: 12, .. }, checksum: "0123456789abcdef", .. }),
//!         depth: NAME,                                // evaluated, so a cycle is E0391
//!     }
//! }
//! ```
//!
//! Per upgrade, that is the function, the import, the constant and inventory's own items (a
//! static, a constructor function and its `.init_array` entry): the `Upgrade` is one struct
//! literal and one `const fn` call, and the source location is literals (see [`source`]), so
//! rustc has few items to check and const evaluation few calls to interpret (issue 14; figures in
//! the README, "Rebuild").
//!
//! `NAME` is one more than the depth of the deepest dependency. A dependency is reached through
//! its name in the macro namespace, which `dependency` (a macro that expands to its input)
//! stands for: `dep` is read as `dep! { DEP }`, and a path `a::b::dep` as
//! `{ use a::b::dep; dep! { a::b::DEP } }`. Rustc resolves the name the user wrote first, under
//! the tokens they wrote: a typo is "cannot find macro `dep`" (for a name) or "unresolved import
//! `a::b::dep`" (for a path), and rustc's similar-name suggestions are upgrades; something that
//! is not an upgrade is "`dep` is in scope, but it is a function, not a macro". As the macro is
//! then never expanded, the hidden constant inside is never looked up, so nothing names it. The
//! name goes in the macro namespace because the value namespace holds the function, and in the
//! module file the type namespace holds the private module each upgrade's file is declared as
//! (`mod dep; pub use dep::*;`), which would shadow a type of that name and make it unreachable.
//! A path is imported (into a block of its own) rather than called as `a::b::dep!`: for a macro
//! path rustc suggests no similar name, and says "try to remove `!`" for a function.
//!
//! The depth is a free constant named after the upgrade in upper case, so a dependency cycle
//! (E0391) names the upgrades on it: "cycle detected when simplifying constant for the type
//! system `records::RECORDS_2024_01_01_A`" (an associated constant would print as
//! `<impl at file:line>::DEPTH`).
//!
//! When the attribute finds a mistake, it emits the function, the errors, and the name and depth
//! with no dependencies (so upgrades that depend on this one do not report errors of their own;
//! not for a method, whose `impl` block cannot hold them), and registers nothing.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Item, ItemFn, LitStr, Path};

use crate::args::Args;
use crate::checksum::checksum;
use crate::validate::{self, Errors};

/// Expands the attribute: `args` is what is inside `#[upgrade(...)]`, `item` what it is on.
pub(crate) fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = syn::parse2::<Args>(args).unwrap_or_else(|err| {
        errors.push(err);
        Args::default()
    });
    let function = match syn::parse2::<Item>(item.clone()) {
        Ok(Item::Fn(function)) => function,
        Ok(other) => {
            errors.push(validate::not_a_function(&other));
            return with_errors(item, &errors);
        }
        Err(err) => {
            errors.push(err);
            return with_errors(item, &errors);
        }
    };
    let info = validate::validate(&args, &function, &mut errors);
    if !errors.is_empty() {
        // A method is in an `impl` block, where the hidden items cannot go.
        let hidden = match function.sig.receiver() {
            Some(_) => TokenStream::new(),
            None => hidden_items(&function, &[]),
        };
        return with_errors(quote!(#function #hidden), &errors);
    }
    let hidden = hidden_items(&function, &args.depends_on);
    let registration = registration(&args, &function, &info);
    // The function's own tokens, unchanged, rather than `function` printed again.
    quote! {
        #item
        #hidden
        #registration
    }
}

fn with_errors(tokens: TokenStream, errors: &Errors) -> TokenStream {
    let errors = errors.to_compile_errors();
    quote!(#tokens #errors)
}

/// The depth of the dependency `dep`, spanned on the path the user wrote, so a path that does
/// not resolve or is not an upgrade is reported there: `dep! { DEP }` for a name,
/// `{ use a::b::dep; dep! { a::b::DEP } }` for a path (see the module docs).
fn dependency_depth(dep: &Path) -> TokenStream {
    let mut depth = dep.clone();
    let Some(last) = depth.segments.last_mut() else {
        return TokenStream::new();
    };
    let name = last.ident.clone();
    last.ident = depth_ident(&last.ident);
    if dep.segments.len() == 1 && dep.leading_colon.is_none() {
        quote_spanned!(dep.span()=> #name! { #depth })
    } else {
        quote_spanned!(dep.span()=> { use #dep; #name! { #depth } })
    }
}

/// The hidden constant holding the depth of the upgrade function `ident`: its name in upper case.
fn depth_ident(ident: &syn::Ident) -> syn::Ident {
    syn::Ident::new(&ident.unraw().to_string().to_ascii_uppercase(), ident.span())
}

/// The upgrade's name in the macro namespace and its depth constant, beside the function. The
/// constant is spanned on the function's name, so each step of a cycle report (E0391) shows the
/// upgrade and then the dependency it goes through.
fn hidden_items(function: &ItemFn, depends_on: &[Path]) -> TokenStream {
    let vis = &function.vis;
    let ident = &function.sig.ident;
    let depth = depth_ident(ident);
    let mut depths: Vec<TokenStream> = depends_on.iter().map(dependency_depth).collect();
    // No call for none or one dependency (the common cases), which const evaluation would
    // interpret; for more, a local rather than a promoted `&[..]`: fewer queries per link,
    // shorter cycle reports.
    let value = match depths.len() {
        0 => quote!(1),
        1 => {
            let only = depths.pop();
            quote!(#only + 1)
        }
        count => quote! {{
            let depths: [usize; #count] = [#(#depths),*];
            ::upgrader_core::__private::depth(&depths)
        }},
    };
    let constant = quote_spanned! {ident.span()=>
        #[doc(hidden)]
        #[allow(unreachable_pub)]
        #vis const #depth: usize = #value;
    };
    quote! {
        #[doc(hidden)]
        #[allow(unused_imports, unreachable_pub)]
        #vis use ::upgrader_core::__private::dependency as #ident;

        #constant
    }
}

/// The registration: one `inventory::submit!` of one struct literal, which builds the `Upgrade`
/// with one `const fn` call and reads the depth constant (so rustc evaluates it: a dependency
/// cycle is a const-evaluation cycle).
fn registration(args: &Args, function: &ItemFn, info: &str) -> TokenStream {
    let ident = &function.sig.ident;
    let id = ident.unraw().to_string();
    let info = LitStr::new(info, Span::call_site());
    let checksum = checksum(args, function);
    // Ids are function names, so a dependency's id is its path's last segment.
    let depends_on = args
        .depends_on
        .iter()
        .filter_map(|dep| dep.segments.last())
        .map(|last| last.ident.unraw().to_string());

    // `run: name` under the function's name: a wrong signature is a type mismatch there
    // ("expected fn pointer, found fn item", with both signatures). The hooks through a typed
    // `let` under the path the user wrote, with the same message.
    let run = quote_spanned!(ident.span()=> run: #ident,);
    let mut options = Vec::new();
    for (field, path, ty) in [
        ("estimate", &args.estimate, "EstimateFn"),
        ("pre_upgrade", &args.pre_upgrade, "CheckFn"),
        ("post_upgrade", &args.post_upgrade, "CheckFn"),
    ] {
        if let Some(path) = path {
            let field = syn::Ident::new(field, Span::call_site());
            let ty = syn::Ident::new(ty, path.span());
            let hook = quote_spanned! {path.span()=>
                ::core::option::Option::Some({
                    let hook: ::upgrader_core::__private::#ty = #path;
                    hook
                })
            };
            options.push(quote!(#field: #hook,));
        }
    }
    // Only `transaction = false` says anything: `true` is the default.
    if matches!(&args.transaction, Some(lit) if !lit.value) {
        options.push(quote!(transactional: false,));
    }
    if let Some(ms) = args.lock_timeout_ms {
        options.push(quote! {
            lock_timeout: ::core::option::Option::Some(::core::time::Duration::from_millis(#ms)),
        });
    }
    if let Some(retries) = args.retries {
        options.push(quote!(retries: #retries,));
    }
    let options = if options.is_empty() {
        quote!(::upgrader_core::__private::Options::DEFAULT)
    } else {
        quote! {
            ::upgrader_core::__private::Options {
                #(#options)*
                ..::upgrader_core::__private::Options::DEFAULT
            }
        }
    };
    let depth = depth_ident(ident);
    let source = source(ident);

    quote! {
        ::upgrader_core::__private::inventory::submit! {
            ::upgrader_core::__private::Registration {
                upgrade: ::upgrader_core::__private::upgrade(::upgrader_core::__private::Parts {
                    id: #id,
                    info: #info,
                    #run
                    depends_on: &[#(#depends_on),*],
                    source: #source,
                    checksum: #checksum,
                    options: #options,
                }),
                depth: #depth,
            }
        }
    }
}

/// Where the upgrade is: the file and the line of its name (not of the attribute), and the
/// crate's name, version and manifest directory. Written as literals, which the attribute reads
/// from the compiler (the span of the name) and from the environment cargo gives rustc, the same
/// values `file!()`, `line!()` and `env!(..)` would give, without five macro calls per upgrade.
/// Outside a compiler (the unit tests) or outside cargo, the macro calls.
fn source(ident: &syn::Ident) -> TokenStream {
    let (file, line) = if proc_macro::is_available() {
        let span = ident.span().unwrap();
        let file = span.file();
        let line = u32::try_from(span.line()).unwrap_or(0);
        (quote!(#file), quote!(#line))
    } else {
        (
            quote!(::core::file!()),
            quote_spanned!(ident.span()=> ::core::line!()),
        )
    };
    let env = |name: &str| match std::env::var(name) {
        Ok(value) if proc_macro::is_available() => quote!(#value),
        _ => quote!(::core::env!(#name)),
    };
    let crate_name = env("CARGO_PKG_NAME");
    let crate_version = env("CARGO_PKG_VERSION");
    let manifest_dir = env("CARGO_MANIFEST_DIR");
    quote! {
        ::upgrader_core::__private::Source {
            file: #file,
            line: #line,
            crate_name: #crate_name,
            crate_version: #crate_version,
            manifest_dir: #manifest_dir,
        }
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::{Spacing, TokenStream, TokenTree};
    use quote::quote;

    use super::expand;

    /// The expansion as text without spaces, for `contains`.
    fn expanded(args: TokenStream, item: TokenStream) -> String {
        expand(args, item).to_string().replace(' ', "")
    }

    fn compile_errors(expansion: &str) -> Vec<&str> {
        expansion
            .split("::core::compile_error!{")
            .skip(1)
            .map(|rest| &rest[..rest.find('}').unwrap()])
            .collect()
    }

    const UPGRADE: &str = "\
        /// Add the `version_id` column to `records_metadata`.
        pub fn records_2024_03_05_add_version_id(ctx: &mut Context) -> Result<()> { Ok(()) }";

    #[test]
    fn a_good_upgrade_expands_to_function_name_depth_and_registration() {
        let item: TokenStream = UPGRADE.parse().unwrap();
        let out = expanded(
            quote!(
                depends_on = [records_2024_01_10_initial, accounts::accounts_2024_01_01_initial],
                estimate = e,
                pre_upgrade = a,
                post_upgrade = b
            ),
            item,
        );
        assert!(compile_errors(&out).is_empty(), "{out}");
        for expected in [
            // The function, unchanged.
            "pubfnrecords_2024_03_05_add_version_id(ctx:&mutContext)->Result<()>{Ok(())}",
            // The name in the macro namespace and the depth: a name in scope is read as a macro
            // call, a path as an import and a macro call.
            "#[doc(hidden)]",
            "pubuse::upgrader_core::__private::dependencyasrecords_2024_03_05_add_version_id;",
            "pubconstRECORDS_2024_03_05_ADD_VERSION_ID:usize={letdepths:[usize;2usize]=[records_2024_01_10_initial!{RECORDS_2024_01_10_INITIAL},{useaccounts::accounts_2024_01_01_initial;accounts_2024_01_01_initial!{accounts::ACCOUNTS_2024_01_01_INITIAL}}];::upgrader_core::__private::depth(&depths)};",
            // The registration: one submitted struct literal, which reads the depth.
            "::upgrader_core::__private::inventory::submit!{::upgrader_core::__private::Registration{upgrade:::upgrader_core::__private::upgrade(::upgrader_core::__private::Parts{",
            "id:\"records_2024_03_05_add_version_id\",info:\"Add the `version_id` column to `records_metadata`.\",run:records_2024_03_05_add_version_id,",
            "depends_on:&[\"records_2024_01_10_initial\",\"accounts_2024_01_01_initial\"],",
            "options:::upgrader_core::__private::Options{estimate:::core::option::Option::Some({lethook:::upgrader_core::__private::EstimateFn=e;hook}),",
            "pre_upgrade:::core::option::Option::Some({lethook:::upgrader_core::__private::CheckFn=a;hook}),",
            "post_upgrade:::core::option::Option::Some({lethook:::upgrader_core::__private::CheckFn=b;hook}),",
            // Outside a compiler (this test), the macros; in one, their values as literals.
            "source:::upgrader_core::__private::Source{file:::core::file!(),line:::core::line!(),crate_name:::core::env!(\"CARGO_PKG_NAME\")",
            "checksum:\"",
            "..::upgrader_core::__private::Options::DEFAULT},}),depth:RECORDS_2024_03_05_ADD_VERSION_ID,}}",
        ] {
            assert!(
                out.contains(&expected.replace(' ', "")),
                "missing {expected}\nin {out}"
            );
        }
    }

    /// Every token of `stream`, groups flattened.
    fn flatten(stream: TokenStream, out: &mut Vec<TokenTree>) {
        for token in stream {
            match token {
                TokenTree::Group(group) => flatten(group.stream(), out),
                other => out.push(other),
            }
        }
    }

    #[test]
    fn only_transaction_false_is_passed_on() {
        let out = |args: TokenStream| {
            expand(args, UPGRADE.parse().unwrap())
                .to_string()
                .replace(' ', "")
        };
        assert!(out(quote!(transaction = false)).contains("transactional:false,"));
        // The default: no field, the default options.
        let default = "options:::upgrader_core::__private::Options::DEFAULT,";
        assert!(out(quote!(transaction = true)).contains(default));
        assert!(out(quote!()).contains(default));
        let checksum = |args: TokenStream| {
            let out = out(args);
            let start = out.find("checksum:\"").unwrap();
            out[start..start + 30].to_owned()
        };
        assert_eq!(
            checksum(quote!(transaction = true)),
            checksum(quote!()),
            "the default"
        );
        assert_ne!(checksum(quote!(transaction = false)), checksum(quote!()));
    }

    #[test]
    fn generated_code_names_only_upgrader_core_private() {
        let mut tokens = Vec::new();
        flatten(
            expand(quote!(depends_on = [a], estimate = e), UPGRADE.parse().unwrap()),
            &mut tokens,
        );
        let text: Vec<String> = tokens.iter().map(ToString::to_string).collect();
        let mut absolute = Vec::new();
        for i in 1..text.len() - 2 {
            let after_path = match &tokens[i - 1] {
                TokenTree::Ident(ident) => {
                    !["as", "for", "impl", "use"].contains(&ident.to_string().as_str())
                }
                TokenTree::Punct(punct) => {
                    punct.as_char() == '>' || (punct.as_char() == ':' && punct.spacing() == Spacing::Joint)
                }
                _ => false,
            };
            let leading = text[i] == ":" && text[i + 1] == ":" && !after_path;
            if leading {
                absolute.push(if text[i + 2] == "core" {
                    "core".to_owned()
                } else {
                    text[i + 2..i + 6].concat()
                });
            }
        }
        assert!(absolute.len() > 10, "{absolute:?}");
        for root in absolute {
            assert!(root == "core" || root == "upgrader_core::__private", "{root}");
        }
    }

    #[test]
    fn a_name_is_called_and_a_path_imported_then_called() {
        let out = expanded(
            quote!(depends_on = [a_2024_01_01_x, self::b_2024_01_01_y, ::other::c_2024_01_01_z]),
            UPGRADE.parse().unwrap(),
        );
        for expected in [
            "a_2024_01_01_x!{A_2024_01_01_X}",
            "{useself::b_2024_01_01_y;b_2024_01_01_y!{self::B_2024_01_01_Y}}",
            "{use::other::c_2024_01_01_z;c_2024_01_01_z!{::other::C_2024_01_01_Z}}",
            "&[\"a_2024_01_01_x\",\"b_2024_01_01_y\",\"c_2024_01_01_z\"]",
        ] {
            assert!(out.contains(expected), "missing {expected}\nin {out}");
        }
    }

    #[test]
    fn no_depends_on_is_depends_on_empty() {
        let without = expand(quote!(), UPGRADE.parse().unwrap()).to_string();
        let empty = expand(quote!(depends_on = []), UPGRADE.parse().unwrap()).to_string();
        assert_eq!(without, empty);
        assert!(
            without
                .replace(' ', "")
                .contains("constRECORDS_2024_03_05_ADD_VERSION_ID:usize=1;")
        );
        let one = expanded(quote!(depends_on = [a_2024_01_01_x]), UPGRADE.parse().unwrap());
        assert!(
            one.contains("constRECORDS_2024_03_05_ADD_VERSION_ID:usize=a_2024_01_01_x!{A_2024_01_01_X}+1;"),
            "{one}"
        );
    }

    #[test]
    fn errors_combine_and_the_function_is_still_emitted() {
        let out = expanded(
            quote!(depends_on = [a], colour = 1, depends_on = []),
            quote! {
                async fn Bad(ctx: &mut Context) -> Result<()> { Ok(()) }
            },
        );
        assert_eq!(
            compile_errors(&out),
            [
                "\"unknown argument `colour`, expected `depends_on`, `estimate`, `pre_upgrade`, `post_upgrade`, `transaction`, `lock_timeout` or `retries`\"".replace(' ', ""),
                "\"duplicate argument `depends_on`\"".replace(' ', ""),
                "\"an upgrade cannot be `async`\"".replace(' ', ""),
                "\"upgrade name `Bad` must use only lowercase ascii letters, digits and `_`\"".replace(' ', ""),
                "\"upgrade `Bad` needs a doc comment saying what it does\"".replace(' ', ""),
            ]
        );
        assert!(
            out.contains("asyncfnBad(ctx:&mutContext)->Result<()>{Ok(())}"),
            "{out}"
        );
        // The name and the depth stay, without dependencies, so dependents do not fail too;
        // nothing is registered.
        assert!(
            out.contains("use::upgrader_core::__private::dependencyasBad;")
                && out.contains("constBAD:usize=1;"),
            "{out}"
        );
        assert!(!out.contains("submit!"), "{out}");
    }

    #[test]
    fn not_a_function_is_emitted_unchanged_with_one_error() {
        let out = expanded(
            quote!(),
            quote!(
                pub struct Records {
                    id: u64,
                }
            ),
        );
        assert_eq!(
            compile_errors(&out),
            ["\"`#[upgrade]` applies to functions\"".replace(' ', "")]
        );
        assert!(out.starts_with("pubstructRecords{id:u64,}"), "{out}");
        assert!(!out.contains("dependency") && !out.contains("depth"), "{out}");
    }

    #[test]
    fn the_checksum_follows_the_body() {
        let checksum = |body: &str| {
            let item = UPGRADE.replace("{ Ok(()) }", body).parse().unwrap();
            let out = expanded(quote!(), item);
            let start = out.find("checksum:\"").unwrap() + "checksum:\"".len();
            out[start..start + 16].to_owned()
        };
        assert_eq!(checksum("{ Ok(()) }"), checksum("{\n    Ok( () )\n}"));
        assert_ne!(
            checksum("{ Ok(()) }"),
            checksum("{ ctx.execute(\"x\")?; Ok(()) }")
        );
    }
}
