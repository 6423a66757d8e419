//! What the attribute checks itself: the item is a plain function with one argument and a return
//! type, its name follows the id rules, it has a doc comment, and its dependencies are neither
//! itself nor repeated.
//!
//! Everything else (paths that do not resolve, dependencies that are not upgrades, argument and
//! return types, cycles) is left to rustc, under the tokens the user wrote.

use proc_macro2::{Delimiter, Group, TokenStream};
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::{AttrStyle, Expr, FnArg, Item, ItemFn, Lit, Meta, ReturnType};

use crate::args::Args;
use upgrader_naming as naming;

/// Errors collected along the way, reported together.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// `Err` with every error pushed, if any.
    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }

    /// One `compile_error!` per error.
    pub(crate) fn to_compile_errors(&self) -> TokenStream {
        self.0
            .as_ref()
            .map(syn::Error::to_compile_error)
            .unwrap_or_default()
    }
}

/// The error for an item that is not a function, under its kind and name (`struct Foo`).
pub(crate) fn not_a_function(item: &Item) -> syn::Error {
    fn pair(kind: &dyn ToTokens, name: &dyn ToTokens) -> TokenStream {
        quote!(#kind #name)
    }
    let head = match item {
        Item::Const(i) => pair(&i.const_token, &i.ident),
        Item::Enum(i) => pair(&i.enum_token, &i.ident),
        Item::ExternCrate(i) => pair(&i.extern_token, &i.ident),
        Item::Impl(i) => pair(&i.impl_token, &i.self_ty),
        Item::Macro(i) => i.mac.path.to_token_stream(),
        Item::Mod(i) => pair(&i.mod_token, &i.ident),
        Item::Static(i) => pair(&i.static_token, &i.ident),
        Item::Struct(i) => pair(&i.struct_token, &i.ident),
        Item::Trait(i) => pair(&i.trait_token, &i.ident),
        Item::Type(i) => pair(&i.type_token, &i.ident),
        Item::Union(i) => pair(&i.union_token, &i.ident),
        Item::Use(i) => pair(&i.use_token, &i.tree),
        other => other.to_token_stream(),
    };
    syn::Error::new_spanned(head, "`#[upgrade]` applies to functions")
}

/// Checks the function and the arguments; returns the upgrade's info (its doc comment).
pub(crate) fn validate(args: &Args, function: &ItemFn, errors: &mut Errors) -> String {
    let sig = &function.sig;
    let id = sig.ident.unraw().to_string();

    if let Some(token) = &sig.asyncness {
        errors.push(syn::Error::new_spanned(token, "an upgrade cannot be `async`"));
    }
    if let Some(token) = &sig.unsafety {
        errors.push(syn::Error::new_spanned(token, "an upgrade cannot be `unsafe`"));
    }
    if let Some(abi) = &sig.abi {
        errors.push(syn::Error::new_spanned(
            abi,
            "an upgrade cannot have an `extern` abi",
        ));
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        let generics = &sig.generics;
        let where_clause = &generics.where_clause;
        errors.push(syn::Error::new_spanned(
            quote!(#generics #where_clause),
            "an upgrade cannot be generic",
        ));
    }
    if let Some(variadic) = &sig.variadic {
        errors.push(syn::Error::new_spanned(variadic, "an upgrade cannot be variadic"));
    }
    let receiver = sig.inputs.iter().find(|arg| matches!(arg, FnArg::Receiver(_)));
    if let Some(receiver) = receiver {
        errors.push(syn::Error::new_spanned(
            receiver,
            "an upgrade cannot take `self`: `#[upgrade]` applies to free functions",
        ));
    } else if sig.variadic.is_none() && sig.inputs.len() != 1 {
        let message = "an upgrade takes one argument, `ctx: &mut Context`";
        if sig.inputs.is_empty() {
            errors.push(syn::Error::new(sig.paren_token.span.join(), message));
        } else {
            errors.push(syn::Error::new_spanned(&sig.inputs, message));
        }
    }
    if let ReturnType::Default = sig.output {
        // From `fn` to `)`: there is no return type to point at.
        let mut parens = Group::new(Delimiter::Parenthesis, TokenStream::new());
        parens.set_span(sig.paren_token.span.join());
        let fn_token = &sig.fn_token;
        errors.push(syn::Error::new_spanned(
            quote!(#fn_token #parens),
            "an upgrade must return `Result<()>`",
        ));
    }

    if let Err(message) = naming::parse_id(&id) {
        errors.push(syn::Error::new_spanned(&sig.ident, message));
    }
    let info = info(&function.attrs);
    if info.is_empty() {
        errors.push(syn::Error::new_spanned(
            &sig.ident,
            format!("upgrade `{id}` needs a doc comment saying what it does"),
        ));
    }

    // Ids are unique across the application, so a dependency is known by its last segment:
    // `x` and `self::x` are the same, and `crate::m::<this id>` is this upgrade.
    let mut seen: Vec<String> = Vec::new();
    for dep in &args.depends_on {
        let Some(last) = dep.segments.last() else { continue };
        let name = last.ident.unraw().to_string();
        if name == id {
            errors.push(syn::Error::new_spanned(
                dep,
                format!("upgrade `{id}` cannot depend on itself"),
            ));
        } else if seen.contains(&name) {
            errors.push(syn::Error::new_spanned(
                dep,
                format!("dependency `{name}` is listed twice"),
            ));
        }
        seen.push(name);
    }
    info
}

/// The doc comment: each line without its first leading space, joined with `\n`, trimmed.
/// Only literal `#[doc = "..."]` attributes count (what `///` and `/** */` become).
pub(crate) fn info(attrs: &[syn::Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs.iter().filter(|attr| matches!(attr.style, AttrStyle::Outer)) {
        let Meta::NameValue(meta) = &attr.meta else {
            continue;
        };
        if !meta.path.is_ident("doc") {
            continue;
        }
        let Expr::Lit(expr) = &meta.value else { continue };
        let Lit::Str(text) = &expr.lit else { continue };
        for line in text.value().split('\n') {
            lines.push(line.strip_prefix(' ').unwrap_or(line).trim_end().to_owned());
        }
    }
    lines.join("\n").trim().to_owned()
}

#[cfg(test)]
mod tests {
    use quote::quote;
    use syn::ItemFn;

    use super::{Errors, info, validate};
    use crate::args::Args;

    fn messages(args: proc_macro2::TokenStream, function: proc_macro2::TokenStream) -> Vec<String> {
        let args: Args = syn::parse2(args).unwrap();
        let function: ItemFn = syn::parse2(function).unwrap();
        let mut errors = Errors::default();
        validate(&args, &function, &mut errors);
        errors
            .finish()
            .err()
            .map(|e| e.into_iter().map(|e| e.to_string()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_good_upgrade_passes() {
        let found = messages(
            quote!(depends_on = [records_2024_01_10_initial]),
            quote! {
                /// Add a column.
                pub fn records_2024_03_05_add_column(ctx: &mut Context) -> Result<()> { Ok(()) }
            },
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn info_is_the_doc_comment_without_the_leading_spaces() {
        let function: ItemFn = syn::parse2(quote! {
            #[doc = " Add the `version_id` column."]
            #[doc = ""]
            #[doc = "  Indented stays indented by one."]
            #[doc(hidden)]
            #[doc = " "]
            fn f() {}
        })
        .unwrap();
        assert_eq!(
            info(&function.attrs),
            "Add the `version_id` column.\n\n Indented stays indented by one."
        );
    }

    #[test]
    fn signature_mistakes_are_reported_together() {
        let found = messages(
            quote!(),
            quote! {
                async unsafe fn x_2024_01_01_y<T>() {}
            },
        );
        assert_eq!(
            found,
            [
                "an upgrade cannot be `async`",
                "an upgrade cannot be `unsafe`",
                "an upgrade cannot be generic",
                "an upgrade takes one argument, `ctx: &mut Context`",
                "an upgrade must return `Result<()>`",
                "upgrade `x_2024_01_01_y` needs a doc comment saying what it does",
            ]
        );
    }

    #[test]
    fn receiver_is_rejected_once() {
        let found = messages(
            quote!(),
            quote!(
                /// Doc.
                fn x_2024_01_01_y(&self, ctx: &mut Context) -> Result<()> {
                    Ok(())
                }
            ),
        );
        assert_eq!(
            found,
            ["an upgrade cannot take `self`: `#[upgrade]` applies to free functions"]
        );
    }

    #[test]
    fn bad_names_use_the_shared_rules() {
        let found = messages(
            quote!(),
            quote!(
                /// Doc.
                fn records_2024_02_30_x(ctx: &mut Context) -> Result<()> {
                    Ok(())
                }
            ),
        );
        assert_eq!(
            found,
            ["upgrade name `records_2024_02_30_x` has an impossible date 2024-02-30"]
        );
        let found = messages(
            quote!(),
            quote!(
                /// Doc.
                fn add_column(ctx: &mut Context) -> Result<()> {
                    Ok(())
                }
            ),
        );
        assert_eq!(
            found,
            [
                "upgrade name `add_column` must be `<module>_<yyyy>_<mm>_<dd>_<name>` or `<repository>_release_<x>_<y>_<z>`"
            ]
        );
        assert!(
            messages(
                quote!(),
                quote!(
                    /// Doc.
                    fn app_release_1_2_3(ctx: &mut Context) -> Result<()> {
                        Ok(())
                    }
                )
            )
            .is_empty()
        );
    }

    #[test]
    fn self_and_repeated_dependencies() {
        let found = messages(
            quote!(
                depends_on = [
                    x_2024_01_01_y,
                    crate::m::x_2024_01_01_y,
                    a::b_2024_01_01_c,
                    b_2024_01_01_c
                ]
            ),
            quote!(
                /// Doc.
                fn x_2024_01_01_y(ctx: &mut Context) -> Result<()> {
                    Ok(())
                }
            ),
        );
        assert_eq!(
            found,
            [
                "upgrade `x_2024_01_01_y` cannot depend on itself",
                "upgrade `x_2024_01_01_y` cannot depend on itself",
                "dependency `b_2024_01_01_c` is listed twice",
            ]
        );
    }
}
