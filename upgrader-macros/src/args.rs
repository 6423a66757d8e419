//! The attribute's arguments: `depends_on = [paths]`, `estimate = path`, `pre_upgrade = path`,
//! `post_upgrade = path`, `transaction = bool`, `lock_timeout = "5s"` and `retries = N`, in any
//! order, each at most once, all optional.

use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ExprPath, Ident, Lit, LitBool, Path, Token, bracketed};

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
    /// How long each statement waits for a lock, in milliseconds (`lock_timeout = "5s"`).
    pub(crate) lock_timeout_ms: Option<u64>,
    /// How many times the upgrade is tried again after giving up waiting for a lock.
    pub(crate) retries: Option<u32>,
}

const KNOWN: &str =
    "`depends_on`, `estimate`, `pre_upgrade`, `post_upgrade`, `transaction`, `lock_timeout` or `retries`";

/// The most `retries` may say: with the pauses doubling up to a minute, ten retries wait about
/// seven minutes between them, on top of their lock timeouts.
const MAX_RETRIES: u32 = 10;

/// The longest lock timeout every backend takes (PostgreSQL and SQLite take milliseconds in a
/// 32-bit integer): about 24 days, as the engine's `Timeouts::MAX_SECS`.
const MAX_LOCK_TIMEOUT_MS: u64 = i32::MAX as u64 / 1000 * 1000;

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
            "depends_on"
                | "estimate"
                | "pre_upgrade"
                | "post_upgrade"
                | "transaction"
                | "lock_timeout"
                | "retries"
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
                "lock_timeout" => match lock_timeout(&input.parse()?) {
                    Ok(ms) => args.lock_timeout_ms = Some(ms),
                    Err(err) => errors.push(err),
                },
                "retries" => match retries(&input.parse()?) {
                    Ok(n) => args.retries = Some(n),
                    Err(err) => errors.push(err),
                },
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

/// `lock_timeout = "5s"`: a duration in a string, as `upgrader_naming::parse_duration` reads it,
/// more than zero (a zero lock timeout means "no limit" to PostgreSQL) and at most about 24 days;
/// in milliseconds. Any other value is an error under it.
fn lock_timeout(value: &Expr) -> syn::Result<u64> {
    let Expr::Lit(ExprLit {
        lit: Lit::Str(text), ..
    }) = value
    else {
        return Err(syn::Error::new_spanned(
            value,
            "`lock_timeout` takes a duration in a string, such as `\"5s\"`, `\"500ms\"` or `\"1m30s\"`",
        ));
    };
    let duration = upgrader_naming::parse_duration(&text.value())
        .map_err(|reason| syn::Error::new_spanned(text, format!("invalid `lock_timeout`: {reason}")))?;
    let ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
    if ms == 0 {
        return Err(syn::Error::new_spanned(
            text,
            "invalid `lock_timeout`: it must be more than zero (leave it out to wait as every statement does)",
        ));
    }
    if ms > MAX_LOCK_TIMEOUT_MS {
        return Err(syn::Error::new_spanned(
            text,
            format!(
                "invalid `lock_timeout`: at most {}s (about 24 days), the most every backend takes",
                MAX_LOCK_TIMEOUT_MS / 1000
            ),
        ));
    }
    Ok(ms)
}

/// `retries = N`: a whole number from 0 to [`MAX_RETRIES`], without a suffix.
fn retries(value: &Expr) -> syn::Result<u32> {
    let message = format!("`retries` takes a whole number from 0 to {MAX_RETRIES}, such as `retries = 3`");
    let Expr::Lit(ExprLit {
        lit: Lit::Int(int), ..
    }) = value
    else {
        return Err(syn::Error::new_spanned(value, message));
    };
    match int.base10_parse::<u32>() {
        Ok(n) if n <= MAX_RETRIES && int.suffix().is_empty() => Ok(n),
        _ => Err(syn::Error::new_spanned(int, message)),
    }
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
                "unknown argument `colour`, expected `depends_on`, `estimate`, `pre_upgrade`, `post_upgrade`, `transaction`, `lock_timeout` or `retries`",
                "unknown argument `type`, expected `depends_on`, `estimate`, `pre_upgrade`, `post_upgrade`, `transaction`, `lock_timeout` or `retries`",
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
    fn lock_timeout_and_retries() {
        let args = parse(quote!(lock_timeout = "1m30s", retries = 3)).unwrap();
        assert_eq!((args.lock_timeout_ms, args.retries), (Some(90_000), Some(3)));
        let args = parse(quote!(lock_timeout = "500ms", retries = 0)).unwrap();
        assert_eq!((args.lock_timeout_ms, args.retries), (Some(500), Some(0)));
        let args = parse(quote!(retries = 10)).unwrap();
        assert_eq!((args.lock_timeout_ms, args.retries), (None, Some(10)));
    }

    #[test]
    fn malformed_lock_timeouts_and_retries_say_why() {
        for (tokens, why) in [
            (quote!(lock_timeout = 5), "takes a duration in a string"),
            (
                quote!(lock_timeout = FIVE_SECONDS),
                "takes a duration in a string",
            ),
            (quote!(lock_timeout = "5"), "has no unit"),
            (quote!(lock_timeout = "5 seconds"), "unknown unit"),
            (quote!(lock_timeout = "0s"), "more than zero"),
            (quote!(lock_timeout = "30d"), "unknown unit"),
            (quote!(lock_timeout = "9999h"), "at most 2147483s"),
            (quote!(retries = -1), "whole number from 0 to 10"),
            (quote!(retries = 11), "whole number from 0 to 10"),
            (quote!(retries = "3"), "whole number from 0 to 10"),
            (quote!(retries = 1.5), "whole number from 0 to 10"),
            (quote!(retries = 3u8), "whole number from 0 to 10"),
        ] {
            let err = parse(tokens.clone())
                .err()
                .unwrap_or_else(|| panic!("{tokens} parsed"));
            assert!(err.to_string().contains(why), "{tokens}: {err}");
        }
        // Every mistake at once, with the other arguments'.
        let err = parse(quote!(lock_timeout = "x", retries = 99, colour = 1))
            .err()
            .unwrap();
        assert_eq!(err.into_iter().count(), 3);
    }

    #[test]
    fn malformed_value_is_an_error() {
        assert!(parse(quote!(depends_on = a_2024_01_01_x)).is_err());
        assert!(parse(quote!(depends_on = [a::<T>])).is_err());
        assert!(parse(quote!(estimate = 1 + 2)).is_err());
        assert!(parse(quote!(depends_on)).is_err());
    }
}
