//! The checks of `#[derive(Labels)]`; every mistake is recorded.

use std::collections::HashMap;

use syn::Fields;

use super::Enum;
use crate::ctxt::Ctxt;

/// Label names the tools put beside a family's own labels, which a family
/// must not use: the exporter's `cmd`, `pid`, `tid`, `owner`, a text's
/// `value`, and a histogram's and a summary's `le` and `quantile`. The
/// library has the same list (`mmstats::labels::RESERVED_KEYS`), for the
/// checks it makes at compile time and at run time; a test holds the two
/// together.
pub const RESERVED_KEYS: [&str; 7] = ["cmd", "pid", "tid", "owner", "value", "le", "quantile"];

pub fn check(cx: &Ctxt, parsed: &Enum) {
    let input = parsed.input;
    if !input.generics.params.is_empty() {
        cx.error_spanned_by(
            &input.generics.params,
            "Labels cannot be derived for a generic enum: its values are fixed at compile time",
        );
    }
    check_key(cx, parsed);
    if parsed.variants.is_empty() {
        cx.error_spanned_by(
            parsed.ident(),
            "Labels needs an enum with at least one variant: a family with no members holds nothing",
        );
    }
    let mut seen: HashMap<&str, String> = HashMap::new();
    for member in &parsed.variants {
        let variant = member.variant;
        match &variant.fields {
            Fields::Unit => {}
            fields => cx.error_spanned_by(
                fields,
                format!(
                    "Labels needs a fieldless enum: variant `{}` has data; a label value is a name, not data",
                    variant.ident
                ),
            ),
        }
        let value = member.value.value.as_str();
        let span = member.value.span;
        if value.is_empty() {
            cx.syn_error(syn::Error::new(
                span,
                "a label value must not be empty (Prometheus treats an empty value as no label)",
            ));
        } else if value.contains('\0') {
            cx.syn_error(syn::Error::new(
                span,
                "a label value must not contain a NUL byte",
            ));
        }
        match seen.get(value) {
            Some(first) => cx.syn_error(syn::Error::new(
                span,
                format!(
                    "two variants have the label value \"{}\": `{first}` has it already",
                    value.escape_debug()
                ),
            )),
            None => {
                seen.insert(value, variant.ident.to_string());
            }
        }
    }
}

fn check_key(cx: &Ctxt, parsed: &Enum) {
    let key = parsed.key.value.as_str();
    let span = parsed.key.span;
    let how = if parsed.key_given {
        ""
    } else {
        " (the enum's name in snake case); give one with #[mmstats(key = \"...\")]"
    };
    let mut bytes = key.bytes();
    let name_ok = matches!(bytes.next(), Some(b'a'..=b'z' | b'A'..=b'Z' | b'_'))
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !name_ok {
        cx.syn_error(syn::Error::new(
            span,
            format!(
                "\"{}\" is not a Prometheus label name{how}: a label name is ASCII letters, digits and `_`, not starting with a digit",
                key.escape_debug()
            ),
        ));
    } else if key.starts_with("__") {
        cx.syn_error(syn::Error::new(
            span,
            format!("label names starting with `__` are reserved by Prometheus{how}"),
        ));
    } else if RESERVED_KEYS.contains(&key) {
        cx.syn_error(syn::Error::new(
            span,
            format!(
                "the label name `{key}` is taken by the tools, which put {} beside a family's labels{how}",
                RESERVED_KEYS.join(", ")
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    /// The library refuses the same keys at compile time (a `DynFamily`'s
    /// default key) and at run time (a schema, the `metrics` recorder). The
    /// library cannot be a dependency of this crate, so its list is read
    /// from its source.
    #[test]
    fn the_library_reserves_the_same_keys() {
        let source = include_str!("../../../mmstats/src/labels.rs");
        let line = source
            .lines()
            .find(|l| l.starts_with("pub const RESERVED_KEYS"))
            .expect("the library's list");
        let ours = format!("{:?};", super::RESERVED_KEYS);
        assert!(line.ends_with(&ours), "{line} against {ours}");
    }
}
