//! Checks that span several fields or the whole struct. Everything found is
//! recorded; nothing stops at the first mistake.

use std::collections::HashMap;

use syn::DeriveInput;

use crate::ast::Model;
use crate::ctxt::Ctxt;

/// The longest label: its size is stored in 16 bits.
const MAX_LABEL_LEN: usize = u16::MAX as usize;

pub fn check(cx: &Ctxt, input: &DeriveInput, model: &Model) {
    check_generics(cx, input);
    check_labels(cx, model);
    check_texts(cx, model);
    check_name(cx, model);
    check_keys(cx, model);
}

use crate::labels::RESERVED_KEYS;

/// A `DynFamily`'s `key`: a Prometheus label name the tools leave free.
/// (That the field is a `DynFamily` is checked by the library at compile
/// time, as is the default key, the field's name.)
fn check_keys(cx: &Ctxt, model: &Model) {
    for field in &model.fields {
        let Some(key) = &field.attrs.key else {
            continue;
        };
        let name = key.value.as_str();
        let mut bytes = name.bytes();
        let name_ok = matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
        let problem = if !name_ok {
            Some(format!(
                "\"{}\" is not a Prometheus label name: a label name is ASCII letters, digits and `_`, not starting with a digit",
                name.escape_debug()
            ))
        } else if name.starts_with("__") {
            Some("label names starting with `__` are reserved by Prometheus".to_string())
        } else if RESERVED_KEYS.contains(&name) {
            Some(format!(
                "the label name `{name}` is taken by the tools, which put {} beside a family's labels",
                RESERVED_KEYS.join(", ")
            ))
        } else {
            None
        };
        if let Some(problem) = problem {
            cx.syn_error(syn::Error::new(key.span, problem));
        }
    }
}

/// The longest `name`: the size of the `sys.model` text field.
const MAX_NAME_LEN: usize = 64;

/// A model's name goes into file names and `sys.model`: short, and only
/// letters, digits, `_`, `-` and `.`, not starting with `.`.
fn check_name(cx: &Ctxt, model: &Model) {
    let Some(name) = &model.attrs.name else {
        return;
    };
    let value = &name.value;
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if value.is_empty() {
        cx.syn_error(syn::Error::new(name.span, "`name` must not be empty"));
    } else if value.len() > MAX_NAME_LEN {
        cx.syn_error(syn::Error::new(
            name.span,
            format!(
                "`name` is {} bytes long; at most {MAX_NAME_LEN} fit",
                value.len()
            ),
        ));
    } else if value.starts_with('.') || !value.chars().all(ok_char) {
        cx.syn_error(syn::Error::new(
            name.span,
            "`name` goes into file names: use only ASCII letters, digits, `_`, `-` and `.`, \
             and do not start it with `.`",
        ));
    }
}

fn check_generics(cx: &Ctxt, input: &DeriveInput) {
    let generics = &input.generics;
    if let Some(lifetime) = generics.lifetimes().next() {
        cx.error_spanned_by(
            lifetime,
            "MmStats cannot be derived for a struct with lifetime parameters: \
             its fields live in a file, not in borrowed memory",
        );
    } else if !generics.params.is_empty() {
        cx.error_spanned_by(
            &generics.params,
            "MmStats cannot be derived for a generic struct: its layout is fixed at compile time; \
             use concrete field types",
        );
    }
    if let Some(clause) = &generics.where_clause {
        if generics.params.is_empty() {
            cx.error_spanned_by(
                clause,
                "MmStats cannot be derived for a struct with a where clause",
            );
        }
    }
}

fn check_labels(cx: &Ctxt, model: &Model) {
    // Label -> the field that has it first.
    let mut seen: HashMap<&str, String> = HashMap::new();
    let defaults = if model.has_defaults() {
        model.default_labels()
    } else {
        Vec::new()
    };
    for field in &model.fields {
        let label = field.label.as_str();
        let span = field.label_span;
        let name = field.label.escape_debug();
        if field
            .attrs
            .label
            .as_ref()
            .is_some_and(|l| l.value.is_empty())
        {
            cx.syn_error(syn::Error::new(span, "a label must not be empty"));
            continue;
        }
        if label.contains('\0') {
            cx.syn_error(syn::Error::new(
                span,
                format!("label \"{name}\" contains a NUL byte, which no reader can show"),
            ));
        }
        if label.len() > MAX_LABEL_LEN {
            // Point at the `label` keyword rather than at a literal of
            // tens of thousands of characters.
            let at = field.attrs.label_key.unwrap_or(span);
            cx.syn_error(syn::Error::new(
                at,
                format!(
                    "this label is {} bytes long with its prefix; a label can have at most {} bytes",
                    label.len(),
                    MAX_LABEL_LEN
                ),
            ));
        }
        if defaults.iter().any(|d| d == label) {
            cx.syn_error(syn::Error::new(
                span,
                format!(
                    "label \"{name}\" is taken by a default field; choose another label, \
                     or leave the default fields out with #[mmstats(defaults = false)]"
                ),
            ));
            continue;
        }
        match seen.get(label) {
            Some(first) => cx.syn_error(syn::Error::new(
                span,
                format!("duplicate label \"{name}\": field `{first}` already has it"),
            )),
            None => {
                seen.insert(label, field.ident.to_string());
            }
        }
    }
}

fn check_texts(cx: &Ctxt, model: &Model) {
    let limit = u16::MAX as usize;
    for field in &model.fields {
        for text in [&field.attrs.unit, &field.attrs.help].into_iter().flatten() {
            if text.value.len() > limit {
                cx.syn_error(syn::Error::new(
                    text.span,
                    "a unit or help text can have at most 65535 bytes",
                ));
            }
        }
        if field.attrs.help.is_none() && field.attrs.doc.len() > limit {
            cx.error_spanned_by(field.ident, "the doc comment is too long to be the field's help text (65535 bytes at most); give a shorter #[mmstats(help = \"...\")]");
        }
    }
    if let Some(prefix) = &model.attrs.prefix {
        if prefix.value.contains('\0') {
            cx.syn_error(syn::Error::new(
                prefix.span,
                "the prefix contains a NUL byte, which no reader can show",
            ));
        }
    }
}
