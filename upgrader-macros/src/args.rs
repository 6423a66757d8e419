//! The attribute's arguments: `depends_on = [paths]`, `estimate = path`, `pre_upgrade = path` and
//! `post_upgrade = path`, in any order, each at most once, all optional.

use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{ExprPath, Ident, Path, Token, bracketed};

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
}

const KNOWN: &str = "`depends_on`, `estimate`, `pre_upgrade` or `post_upgrade`";

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
            "depends_on" | "estimate" | "pre_upgrade" | "post_upgrade"
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
                "unknown argument `colour`, expected `depends_on`, `estimate`, `pre_upgrade` or `post_upgrade`",
                "unknown argument `type`, expected `depends_on`, `estimate`, `pre_upgrade` or `post_upgrade`",
                "duplicate argument `depends_on`",
            ]
        );
    }

    #[test]
    fn malformed_value_is_an_error() {
        assert!(parse(quote!(depends_on = a_2024_01_01_x)).is_err());
        assert!(parse(quote!(depends_on = [a::<T>])).is_err());
        assert!(parse(quote!(estimate = 1 + 2)).is_err());
        assert!(parse(quote!(depends_on)).is_err());
    }
}
