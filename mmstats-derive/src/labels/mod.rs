//! `#[derive(Labels)]`: a fieldless enum as the values of one label of a
//! family. Parsed here (`Enum`), checked in `check`, written out in
//! `expand`.

mod check;

pub use check::RESERVED_KEYS;
mod expand;

use proc_macro2::TokenStream;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Data, DeriveInput, Ident, Variant};

use crate::attr::{self, Spanned};
use crate::ctxt::Ctxt;

pub const KEY: &str = "key";
const ENUM_KEYS: &str = "`key` or `crate`";
const VARIANT_KEYS: &str = "`value`";

/// The enum as the macro sees it.
pub struct Enum<'a> {
    pub input: &'a DeriveInput,
    /// The label name, given or the enum's name in snake case.
    pub key: Spanned<String>,
    /// Whether the key was given.
    pub key_given: bool,
    pub krate: Option<syn::Path>,
    pub variants: Vec<Member<'a>>,
}

/// One variant: one value of the label.
pub struct Member<'a> {
    pub variant: &'a Variant,
    /// The value, given or the variant's name in snake case.
    pub value: Spanned<String>,
}

pub fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let cx = Ctxt::new();
    let parsed = Enum::from_input(&cx, input);
    if let Some(parsed) = &parsed {
        check::check(&cx, parsed);
    }
    cx.check()?;
    Ok(parsed.map(|e| expand::expand(&e)).unwrap_or_default())
}

impl<'a> Enum<'a> {
    fn from_input(cx: &Ctxt, input: &'a DeriveInput) -> Option<Enum<'a>> {
        let (key, krate) = enum_attrs(cx, &input.attrs);
        let data = match &input.data {
            Data::Enum(data) => data,
            Data::Struct(data) => {
                cx.error_spanned_by(
                    data.struct_token,
                    "Labels can only be derived for a fieldless enum: its variants are the label's values",
                );
                return None;
            }
            Data::Union(data) => {
                cx.error_spanned_by(
                    data.union_token,
                    "Labels can only be derived for a fieldless enum: its variants are the label's values",
                );
                return None;
            }
        };
        let key_given = key.is_some();
        let key = key.unwrap_or_else(|| Spanned {
            value: snake_case(&input.ident.to_string()),
            span: input.ident.span(),
        });
        let variants = data
            .variants
            .iter()
            .map(|variant| {
                let value = variant_value(cx, &variant.attrs).unwrap_or_else(|| Spanned {
                    value: snake_case(&variant.ident.to_string()),
                    span: variant.ident.span(),
                });
                Member { variant, value }
            })
            .collect();
        Some(Enum {
            input,
            key,
            key_given,
            krate,
            variants,
        })
    }

    pub fn ident(&self) -> &Ident {
        &self.input.ident
    }
}

fn enum_attrs(cx: &Ctxt, attrs: &[Attribute]) -> (Option<Spanned<String>>, Option<syn::Path>) {
    let mut key = None;
    let mut krate = None;
    for a in attrs.iter().filter(|a| a.path().is_ident(attr::MMSTATS)) {
        let parsed = a.parse_nested_meta(|meta: ParseNestedMeta| {
            if meta.path.is_ident(KEY) {
                attr::set_once(cx, &meta, &mut key, attr::string_value(cx, &meta)?);
            } else if meta.path.is_ident(attr::CRATE) {
                if let Some(lit) = attr::string_value(cx, &meta)? {
                    match syn::LitStr::new(&lit.value, lit.span).parse::<syn::Path>() {
                        Ok(path) if krate.is_none() => krate = Some(path),
                        Ok(_) => attr::duplicate(cx, &meta),
                        Err(_) => cx.syn_error(syn::Error::new(
                            lit.span,
                            "`crate` takes a path in a string, like crate = \"::mmstats\"",
                        )),
                    }
                }
            } else {
                attr::unknown(cx, &meta, ENUM_KEYS)?;
            }
            Ok(())
        });
        if let Err(e) = parsed {
            cx.syn_error(e);
        }
    }
    (key, krate)
}

fn variant_value(cx: &Ctxt, attrs: &[Attribute]) -> Option<Spanned<String>> {
    let mut value = None;
    for a in attrs.iter().filter(|a| a.path().is_ident(attr::MMSTATS)) {
        let parsed = a.parse_nested_meta(|meta| {
            if meta.path.is_ident(attr::VALUE) {
                attr::set_once(cx, &meta, &mut value, attr::string_value(cx, &meta)?);
            } else {
                attr::unknown(cx, &meta, VARIANT_KEYS)?;
            }
            Ok(())
        });
        if let Err(e) = parsed {
            cx.syn_error(e);
        }
    }
    value
}

/// `HttpMethod` -> `http_method`, `NotFound` -> `not_found`, `HTTPError` ->
/// `http_error`, `Get` -> `get`: a `_` before an upper-case letter that
/// follows a lower-case letter or digit, or that starts a word after an
/// acronym; everything in lower case.
pub fn snake_case(name: &str) -> String {
    let name = name.strip_prefix("r#").unwrap_or(name);
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && i > 0 {
            let prev = chars[i - 1];
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if prev.is_lowercase() || prev.is_ascii_digit() || (prev.is_uppercase() && next_lower) {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

/// A label value as the file spells it (the spec's escapes).
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}
