//! The expansion of `#[upgrade(...)] fn name(...)`.
//!
//! ```text
//! fn name(...) { ... }                         // unchanged
//! struct __upgrade_name {}                     // hidden
//! impl IsUpgrade for __upgrade_name { ID, DEPTH }  // DEPTH from the dependencies' DEPTHs
//! const _: () = {
//!     const _: usize = <__upgrade_name as IsUpgrade>::DEPTH;   // evaluated, so a cycle is E0391
//!     static UPGRADE: Upgrade = Upgrade::new(..).with_...(..);
//!     inventory::submit! { Registration(&UPGRADE) }
//! };
//! ```
//!
//! The hidden type is named after the function, not the same as it: a module file declares each
//! upgrade's file as a module named like the upgrade and re-exports it (`mod x; pub use x::*;`),
//! and a type named `x` would be shadowed there by the module `x`. A dependency path `a::b::x`
//! is read as `a::b::__upgrade_x`, spanned on what the user wrote.
//!
//! When the attribute finds a mistake, it emits the function, the errors, and the hidden type
//! with no dependencies (so upgrades that depend on this one do not report errors of their own;
//! not for a method, whose `impl` block cannot hold it), and registers nothing.

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
        // A method is in an `impl` block, where the hidden type cannot go.
        let marker = match function.sig.receiver() {
            Some(_) => TokenStream::new(),
            None => marker(&function, &[], None),
        };
        return with_errors(quote!(#function #marker), &errors);
    }
    let marker = marker(&function, &args.depends_on, args.depends_on_span);
    let registration = registration(&args, &function, &info);
    quote! {
        #function
        #marker
        #registration
    }
}

fn with_errors(tokens: TokenStream, errors: &Errors) -> TokenStream {
    let errors = errors.to_compile_errors();
    quote!(#tokens #errors)
}

/// `<dep as IsUpgrade>`, spanned on the path the user wrote, so a path that does not resolve or
/// is not an upgrade is reported there.
fn as_upgrade(dep: &Path) -> TokenStream {
    let mut marker_path = dep.clone();
    if let Some(last) = marker_path.segments.last_mut() {
        last.ident = marker_ident(&last.ident);
    }
    quote_spanned!(dep.span()=> <#marker_path as ::upgrader_core::__private::IsUpgrade>)
}

/// The hidden type of the upgrade function `ident`.
pub(crate) fn marker_ident(ident: &syn::Ident) -> syn::Ident {
    syn::Ident::new(&format!("__upgrade_{}", ident.unraw()), ident.span())
}

/// The hidden type beside the function, and its `IsUpgrade` impl. The impl is spanned on the
/// `depends_on` list, so each step of a cycle report (E0391) shows the list it goes through.
fn marker(function: &ItemFn, depends_on: &[Path], depends_on_span: Option<Span>) -> TokenStream {
    let vis = &function.vis;
    let ident = &function.sig.ident;
    let id = ident.unraw().to_string();
    let marker = marker_ident(ident);
    let depths = depends_on.iter().map(|dep| {
        let dep = as_upgrade(dep);
        quote!(#dep::DEPTH)
    });
    let count = depends_on.len();
    let span = depends_on_span.unwrap_or_else(|| ident.span());
    let implementation = quote_spanned! {span=>
        #[diagnostic::do_not_recommend]
        impl ::upgrader_core::__private::IsUpgrade for #marker {
            const ID: &'static str = #id;
            const DEPTH: usize = {
                // A local, not a promoted `&[..]`: fewer queries per link, shorter cycle reports.
                let depths: [usize; #count] = [#(#depths),*];
                ::upgrader_core::__private::depth(&depths)
            };
        }
    };
    quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code, missing_debug_implementations, unreachable_pub)]
        #vis struct #marker {}

        #implementation
    }
}

/// The `Upgrade` value and its registration.
fn registration(args: &Args, function: &ItemFn, info: &str) -> TokenStream {
    let sig = &function.sig;
    let ident = &sig.ident;
    let id = ident.unraw().to_string();
    let info = LitStr::new(info, Span::call_site());
    let checksum = checksum(args, function);
    let depends_on = args.depends_on.iter().map(|dep| {
        let dep = as_upgrade(dep);
        quote!(#dep::ID)
    });

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
    // Evaluated (an unused `const` would not be): a dependency cycle is a const-eval cycle, whose
    // report ends "cycle used when const-evaluating" this, under the function's name.
    let marker = marker_ident(ident);
    let force = quote_spanned! {ident.span()=>
        const _: usize = <#marker as ::upgrader_core::__private::IsUpgrade>::DEPTH;
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
    fn a_good_upgrade_expands_to_function_marker_and_registration() {
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
            // The hidden type and its impl.
            "#[doc(hidden)]",
            "pubstruct__upgrade_records_2024_03_05_add_version_id{}",
            "impl::upgrader_core::__private::IsUpgradefor__upgrade_records_2024_03_05_add_version_id{constID:&'staticstr=\"records_2024_03_05_add_version_id\";",
            "constDEPTH:usize={letdepths:[usize;2usize]=[<__upgrade_records_2024_01_10_initialas::upgrader_core::__private::IsUpgrade>::DEPTH,<accounts::__upgrade_accounts_2024_01_01_initialas::upgrader_core::__private::IsUpgrade>::DEPTH];::upgrader_core::__private::depth(&depths)};",
            // The registration.
            "const_:usize=<__upgrade_records_2024_03_05_add_version_idas::upgrader_core::__private::IsUpgrade>::DEPTH;",
            "const__UPGRADER_RUN:::upgrader_core::__private::UpgradeFn=records_2024_03_05_add_version_id;",
            "&[<__upgrade_records_2024_01_10_initialas::upgrader_core::__private::IsUpgrade>::ID,<accounts::__upgrade_accounts_2024_01_01_initialas::upgrader_core::__private::IsUpgrade>::ID]",
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
                TokenTree::Ident(ident) => !["as", "for", "impl"].contains(&ident.to_string().as_str()),
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
                "\"unknown argument `colour`, expected `depends_on`, `estimate`, `pre_upgrade` or `post_upgrade`\"".replace(' ', ""),
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
        // The hidden type stays, without dependencies, so dependents do not fail too; nothing is
        // registered.
        assert!(
            out.contains("struct__upgrade_Bad{}") && out.contains("letdepths:[usize;0usize]=[];"),
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
        assert!(!out.contains("IsUpgrade"), "{out}");
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
