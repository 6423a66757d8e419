//! The expansion of `#[upgrade(...)] fn name(...)`.
//!
//! ```text
//! fn name(...) { ... }                                // unchanged
//! use upgrader_core::__private::dependency as name;   // hidden: `name!`, in the macro namespace
//! const NAME: usize = depth(&[dep! { DEP }, { use a::b::dep; dep! { a::b::DEP } }]);  // hidden
//! const _: () = {
//!     const _: usize = NAME;                          // evaluated, so a cycle is E0391
//!     static UPGRADE: Upgrade = Upgrade::new(..).with_...(..);
//!     inventory::submit! { Registration(&UPGRADE) }
//! };
//! ```
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
    quote! {
        #function
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
    let depths = depends_on.iter().map(dependency_depth);
    let count = depends_on.len();
    let constant = quote_spanned! {ident.span()=>
        #[doc(hidden)]
        #[allow(unreachable_pub)]
        #vis const #depth: usize = {
            // A local, not a promoted `&[..]`: fewer queries per link, shorter cycle reports.
            let depths: [usize; #count] = [#(#depths),*];
            ::upgrader_core::__private::depth(&depths)
        };
    };
    quote! {
        #[doc(hidden)]
        #[allow(unused_imports, unreachable_pub)]
        #vis use ::upgrader_core::__private::dependency as #ident;

        #constant
    }
}

/// The `Upgrade` value and its registration.
fn registration(args: &Args, function: &ItemFn, info: &str) -> TokenStream {
    let sig = &function.sig;
    let ident = &sig.ident;
    let id = ident.unraw().to_string();
    let info = LitStr::new(info, Span::call_site());
    let checksum = checksum(args, function);
    // Ids are function names, so a dependency's id is its path's last segment.
    let depends_on = args
        .depends_on
        .iter()
        .filter_map(|dep| dep.segments.last())
        .map(|last| last.ident.unraw().to_string());

    // `const RUN: UpgradeFn = name;` under the function's name: a wrong signature is a type
    // mismatch there ("expected fn pointer, found fn item", with both signatures). The hooks the
    // same way, under the path the user wrote.
    let run = quote_spanned! {ident.span()=>
        const __UPGRADER_RUN: ::upgrader_core::__private::UpgradeFn = #ident;
    };
    let hook = |path: &Option<syn::ExprPath>, konst: &str, ty: &str, method: &str| {
        let Some(path) = path else {
            return (TokenStream::new(), TokenStream::new());
        };
        let konst = syn::Ident::new(konst, Span::call_site());
        let ty = syn::Ident::new(ty, path.span());
        let method = syn::Ident::new(method, Span::call_site());
        let definition = quote_spanned! {path.span()=>
            const #konst: ::upgrader_core::__private::#ty = #path;
        };
        (definition, quote!(.#method(#konst)))
    };
    let (estimate_const, estimate) = hook(
        &args.estimate,
        "__UPGRADER_ESTIMATE",
        "EstimateFn",
        "with_estimate",
    );
    let (pre_const, pre) = hook(
        &args.pre_upgrade,
        "__UPGRADER_PRE_UPGRADE",
        "CheckFn",
        "with_pre_upgrade",
    );
    let (post_const, post) = hook(
        &args.post_upgrade,
        "__UPGRADER_POST_UPGRADE",
        "CheckFn",
        "with_post_upgrade",
    );
    // Only `transaction = false` says anything: `true` is the default.
    let transaction = match &args.transaction {
        Some(lit) if !lit.value => quote!(.with_transaction(false)),
        _ => TokenStream::new(),
    };
    let lock_timeout = args
        .lock_timeout_ms
        .map(|ms| quote!(.with_lock_timeout(::core::time::Duration::from_millis(#ms))));
    let retries = args.retries.map(|n| quote!(.with_retries(#n)));
    // Evaluated (an unused `const` would not be): a dependency cycle is a const-eval cycle, whose
    // report ends "cycle used when const-evaluating" this, under the function's name.
    let depth = depth_ident(ident);
    let force = quote_spanned! {ident.span()=>
        const _: usize = #depth;
    };

    // `line!()` under the function's name gives the line of `fn`, not of the attribute.
    let line = quote_spanned!(ident.span()=> ::core::line!());

    quote! {
        const _: () = {
            #force
            #run
            const __UPGRADER_DEPENDS_ON: &[&str] = &[#(#depends_on),*];
            #estimate_const
            #pre_const
            #post_const
            static __UPGRADER_UPGRADE: ::upgrader_core::__private::Upgrade =
                ::upgrader_core::__private::Upgrade::new(#id, #info, __UPGRADER_RUN)
                    .with_depends_on(__UPGRADER_DEPENDS_ON)
                    #estimate
                    #pre
                    #post
                    #transaction
                    #lock_timeout
                    #retries
                    .with_source(::upgrader_core::__private::Source {
                        file: ::core::file!(),
                        line: #line,
                        crate_name: ::core::env!("CARGO_PKG_NAME"),
                        crate_version: ::core::env!("CARGO_PKG_VERSION"),
                        manifest_dir: ::core::env!("CARGO_MANIFEST_DIR"),
                    })
                    .with_checksum(#checksum);
            ::upgrader_core::__private::inventory::submit! {
                ::upgrader_core::__private::Registration(&__UPGRADER_UPGRADE)
            }
        };
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
            // The registration.
            "const_:usize=RECORDS_2024_03_05_ADD_VERSION_ID;",
            "const__UPGRADER_RUN:::upgrader_core::__private::UpgradeFn=records_2024_03_05_add_version_id;",
            "const__UPGRADER_DEPENDS_ON:&[&str]=&[\"records_2024_01_10_initial\",\"accounts_2024_01_01_initial\"];",
            "const__UPGRADER_ESTIMATE:::upgrader_core::__private::EstimateFn=e;",
            "const__UPGRADER_PRE_UPGRADE:::upgrader_core::__private::CheckFn=a;",
            "const__UPGRADER_POST_UPGRADE:::upgrader_core::__private::CheckFn=b;",
            "::upgrader_core::__private::Upgrade::new(\"records_2024_03_05_add_version_id\",\"Add the `version_id` column to `records_metadata`.\",__UPGRADER_RUN)",
            ".with_estimate(__UPGRADER_ESTIMATE).with_pre_upgrade(__UPGRADER_PRE_UPGRADE).with_post_upgrade(__UPGRADER_POST_UPGRADE)",
            "file:::core::file!(),line:::core::line!(),crate_name:::core::env!(\"CARGO_PKG_NAME\")",
            ".with_checksum(\"",
            "::upgrader_core::__private::inventory::submit!{::upgrader_core::__private::Registration(&__UPGRADER_UPGRADE)}",
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
        assert!(out(quote!(transaction = false)).contains(".with_transaction(false)"));
        assert!(!out(quote!(transaction = true)).contains("with_transaction"));
        assert!(!out(quote!()).contains("with_transaction"));
        let checksum = |args: TokenStream| {
            let out = out(args);
            let start = out.find(".with_checksum(\"").unwrap();
            out[start..start + 40].to_owned()
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
        assert!(without.replace(' ', "").contains("letdepths:[usize;0usize]=[];"));
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
                && out.contains("constBAD:usize={letdepths:[usize;0usize]=[];"),
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
            let start = out.find(".with_checksum(\"").unwrap() + ".with_checksum(\"".len();
            out[start..start + 16].to_owned()
        };
        assert_eq!(checksum("{ Ok(()) }"), checksum("{\n    Ok( () )\n}"));
        assert_ne!(
            checksum("{ Ok(()) }"),
            checksum("{ ctx.execute(\"x\")?; Ok(()) }")
        );
    }
}
