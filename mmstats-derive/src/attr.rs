//! The `#[mmstats(...)]` attributes, parsed once into plain values.

use proc_macro2::Span;
use syn::meta::ParseNestedMeta;
use syn::{Attribute, Expr, ExprLit, Lit, LitBool, LitStr, Token};

use crate::ctxt::Ctxt;

// Every attribute keyword, named once.
pub const MMSTATS: &str = "mmstats";
pub const PREFIX: &str = "prefix";
pub const DEFAULTS: &str = "defaults";
pub const CRATE: &str = "crate";
pub const DIR: &str = "dir";
pub const FILE: &str = "file";
pub const NAME: &str = "name";
pub const LABEL: &str = "label";
pub const UNIT: &str = "unit";
pub const HELP: &str = "help";
pub const VALUE: &str = "value";
pub const KEY: &str = "key";

const CONTAINER_KEYS: &str = "`prefix`, `defaults`, `dir`, `file`, `name` or `crate`";
const FIELD_KEYS: &str = "`label`, `unit`, `help`, `value` or `key`";

/// A value given to an attribute, with where it was written.
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// The struct's attributes.
#[derive(Default)]
pub struct Container {
    pub prefix: Option<Spanned<String>>,
    pub defaults: Option<Spanned<bool>>,
    pub krate: Option<syn::Path>,
    pub dir: Option<Spanned<String>>,
    pub file: Option<Spanned<String>>,
    pub name: Option<Spanned<String>>,
}

/// One field's attributes.
#[derive(Default)]
pub struct Field {
    pub label: Option<Spanned<String>>,
    /// Where the `label` keyword stands, for errors about a very long label.
    pub label_key: Option<Span>,
    pub unit: Option<Spanned<String>>,
    pub help: Option<Spanned<String>>,
    pub value: Option<Expr>,
    /// The label name of a `DynFamily`.
    pub key: Option<Spanned<String>>,
    /// The first paragraph of the doc comment, one line.
    pub doc: String,
}

impl Container {
    pub fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Container {
        let mut out = Container::default();
        for attr in attrs.iter().filter(|a| a.path().is_ident(MMSTATS)) {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident(PREFIX) {
                    set_once(cx, &meta, &mut out.prefix, string_value(cx, &meta)?);
                } else if meta.path.is_ident(DEFAULTS) {
                    set_once(cx, &meta, &mut out.defaults, bool_value(cx, &meta)?);
                } else if meta.path.is_ident(DIR) {
                    set_once(cx, &meta, &mut out.dir, string_value(cx, &meta)?);
                } else if meta.path.is_ident(FILE) {
                    set_once(cx, &meta, &mut out.file, string_value(cx, &meta)?);
                } else if meta.path.is_ident(NAME) {
                    set_once(cx, &meta, &mut out.name, string_value(cx, &meta)?);
                } else if meta.path.is_ident(CRATE) {
                    if let Some(lit) = string_value(cx, &meta)? {
                        match LitStr::new(&lit.value, lit.span).parse::<syn::Path>() {
                            Ok(path) if out.krate.is_none() => out.krate = Some(path),
                            Ok(_) => duplicate(cx, &meta),
                            Err(_) => cx.syn_error(syn::Error::new(
                                lit.span,
                                "`crate` takes a path in a string, like crate = \"::mmstats\"",
                            )),
                        }
                    }
                } else {
                    unknown(cx, &meta, CONTAINER_KEYS)?;
                }
                Ok(())
            });
            if let Err(e) = parsed {
                cx.syn_error(e);
            }
        }
        out
    }
}

impl Field {
    pub fn from_attrs(cx: &Ctxt, attrs: &[Attribute]) -> Field {
        let mut out = Field {
            doc: doc_summary(attrs),
            ..Field::default()
        };
        for attr in attrs.iter().filter(|a| a.path().is_ident(MMSTATS)) {
            let parsed = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident(LABEL) {
                    let key = meta.path.get_ident().map(|i| i.span());
                    if set_once(cx, &meta, &mut out.label, string_value(cx, &meta)?) {
                        out.label_key = key;
                    }
                } else if meta.path.is_ident(UNIT) {
                    set_once(cx, &meta, &mut out.unit, string_value(cx, &meta)?);
                } else if meta.path.is_ident(HELP) {
                    set_once(cx, &meta, &mut out.help, string_value(cx, &meta)?);
                } else if meta.path.is_ident(KEY) {
                    set_once(cx, &meta, &mut out.key, string_value(cx, &meta)?);
                } else if meta.path.is_ident(VALUE) {
                    let expr: Expr = meta.value()?.parse()?;
                    if out.value.is_some() {
                        duplicate(cx, &meta);
                    } else {
                        out.value = Some(expr);
                    }
                } else {
                    unknown(cx, &meta, FIELD_KEYS)?;
                }
                Ok(())
            });
            if let Err(e) = parsed {
                cx.syn_error(e);
            }
        }
        out
    }
}

/// Stores `value` unless the key was already given; returns whether stored.
pub fn set_once<T>(
    cx: &Ctxt,
    meta: &ParseNestedMeta,
    slot: &mut Option<T>,
    value: Option<T>,
) -> bool {
    match value {
        Some(_) if slot.is_some() => {
            duplicate(cx, meta);
            false
        }
        Some(value) => {
            *slot = Some(value);
            true
        }
        None => false,
    }
}

fn key_name(meta: &ParseNestedMeta) -> String {
    meta.path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

pub fn duplicate(cx: &Ctxt, meta: &ParseNestedMeta) {
    cx.error_spanned_by(
        &meta.path,
        format!("duplicate mmstats attribute `{}`", key_name(meta)),
    );
}

/// Records an unknown key and skips its value, so parsing goes on.
pub fn unknown(cx: &Ctxt, meta: &ParseNestedMeta, expected: &str) -> syn::Result<()> {
    let name = key_name(meta);
    cx.error_spanned_by(
        &meta.path,
        format!("unknown mmstats attribute `{name}`; expected {expected}"),
    );
    if meta.input.peek(Token![=]) {
        let _: Expr = meta.value()?.parse()?;
    } else if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        let _ = meta.parse_nested_meta(|_| Ok(()));
    }
    Ok(())
}

/// The string literal after `key =`; anything else is recorded as an error.
pub fn string_value(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<Option<Spanned<String>>> {
    let name = key_name(meta);
    if !meta.input.peek(Token![=]) {
        cx.error_spanned_by(
            &meta.path,
            format!("`{name}` needs a value, like {name} = \"...\""),
        );
        return Ok(None);
    }
    let expr: Expr = meta.value()?.parse()?;
    match ungroup(expr) {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(Some(lit_string(&s))),
        other => {
            cx.error_spanned_by(
                other,
                format!("`{name}` takes a string literal, like {name} = \"...\""),
            );
            Ok(None)
        }
    }
}

/// The `true` or `false` after `key =`; anything else is recorded.
fn bool_value(cx: &Ctxt, meta: &ParseNestedMeta) -> syn::Result<Option<Spanned<bool>>> {
    let name = key_name(meta);
    if !meta.input.peek(Token![=]) {
        cx.error_spanned_by(
            &meta.path,
            format!("`{name}` needs a value: {name} = true or {name} = false"),
        );
        return Ok(None);
    }
    let expr: Expr = meta.value()?.parse()?;
    match ungroup(expr) {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(LitBool { value, span }),
            ..
        }) => Ok(Some(Spanned { value, span })),
        other => {
            cx.error_spanned_by(other, format!("`{name}` takes `true` or `false`"));
            Ok(None)
        }
    }
}

/// The expression inside the invisible groups around it. A value that a
/// `macro_rules!` macro passes on as `$x:literal` (or `$x:expr`) arrives
/// wrapped in a group without delimiters, which syn parses as
/// `Expr::Group`; the literal inside is what was written.
fn ungroup(expr: Expr) -> Expr {
    match expr {
        Expr::Group(group) => ungroup(*group.expr),
        other => other,
    }
}

fn lit_string(s: &LitStr) -> Spanned<String> {
    Spanned {
        value: s.value(),
        span: s.span(),
    }
}

/// The first paragraph of the doc comment, as one line.
fn doc_summary(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("doc")) {
        if let syn::Meta::NameValue(nv) = &attr.meta {
            if let Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) = ungroup(nv.value.clone())
            {
                let text = s.value();
                let line = text.trim();
                if line.is_empty() {
                    if !lines.is_empty() {
                        break;
                    }
                    continue;
                }
                lines.push(line.to_string());
            }
        }
    }
    lines.join(" ")
}
