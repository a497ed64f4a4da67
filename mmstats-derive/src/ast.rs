//! The struct as the macro sees it: fields with their parsed attributes and
//! final labels.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, Ident, Type};

use crate::attr;
use crate::ctxt::Ctxt;

/// The default fields' label suffixes, in file order; the runtime's
/// `DEFAULT_LABELS` holds the same list, and a `const` check in the
/// generated code keeps the two in step.
pub const DEFAULT_LABELS: [&str; 8] = [
    "sys.pid",
    "sys.tid",
    "sys.uid",
    "sys.gid",
    "sys.created",
    "org.rust-lang.version",
    "sys.cmd",
    "sys.model",
];

pub struct Model<'a> {
    pub ident: &'a Ident,
    pub attrs: attr::Container,
    pub fields: Vec<Field<'a>>,
}

pub struct Field<'a> {
    pub ident: &'a Ident,
    pub ty: &'a Type,
    pub attrs: attr::Field,
    /// The label with the prefix: what the file holds.
    pub label: String,
    /// Where to point when the label is wrong.
    pub label_span: Span,
}

impl<'a> Model<'a> {
    /// Reads the struct; `None` when it is not a struct with named fields
    /// (the error is recorded).
    pub fn from_input(cx: &Ctxt, input: &'a DeriveInput) -> Option<Model<'a>> {
        let attrs = attr::Container::from_attrs(cx, &input.attrs);
        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named,
                Fields::Unnamed(fields) => {
                    cx.error_spanned_by(
                        fields,
                        "MmStats needs a struct with named fields; the names become the labels",
                    );
                    return None;
                }
                Fields::Unit => {
                    cx.error_spanned_by(
                        &input.ident,
                        "MmStats needs a struct with named fields; a unit struct has none",
                    );
                    return None;
                }
            },
            Data::Enum(data) => {
                cx.error_spanned_by(
                    data.enum_token,
                    "MmStats can only be derived for a struct with named fields, not an enum",
                );
                return None;
            }
            Data::Union(data) => {
                cx.error_spanned_by(
                    data.union_token,
                    "MmStats can only be derived for a struct with named fields, not a union",
                );
                return None;
            }
        };
        let prefix = attrs
            .prefix
            .as_ref()
            .map(|p| p.value.clone())
            .unwrap_or_default();
        let fields = named
            .named
            .iter()
            .filter_map(|field| {
                let ident = field.ident.as_ref()?;
                let attrs = attr::Field::from_attrs(cx, &field.attrs);
                let (name, label_span) = match &attrs.label {
                    Some(label) => (label.value.clone(), label.span),
                    None => (ident.unraw_string(), ident.span()),
                };
                Some(Field {
                    ident,
                    ty: &field.ty,
                    label: format!("{prefix}{name}"),
                    label_span,
                    attrs,
                })
            })
            .collect();
        Some(Model {
            ident: &input.ident,
            attrs,
            fields,
        })
    }

    /// Whether the default fields are added.
    pub fn has_defaults(&self) -> bool {
        self.attrs.defaults.as_ref().is_none_or(|d| d.value)
    }

    /// The model's name in file names (`{MODEL}`) and in `sys.model`:
    /// `#[mmstats(name = "...")]`, else the struct's name in snake case.
    pub fn short_name(&self) -> String {
        match &self.attrs.name {
            Some(name) => name.value.clone(),
            None => snake_case(&self.ident.to_string()),
        }
    }

    /// The default fields' labels with the prefix.
    pub fn default_labels(&self) -> Vec<String> {
        let prefix = self
            .attrs
            .prefix
            .as_ref()
            .map(|p| p.value.as_str())
            .unwrap_or("");
        DEFAULT_LABELS
            .iter()
            .map(|suffix| format!("{prefix}{suffix}"))
            .collect()
    }
}

impl Field<'_> {
    /// Where to point for a field whose type is at fault.
    pub fn ty_span(&self) -> Span {
        self.ty.span()
    }
}

trait UnrawString {
    fn unraw_string(&self) -> String;
}

impl UnrawString for Ident {
    fn unraw_string(&self) -> String {
        let name = self.to_string();
        match name.strip_prefix("r#") {
            Some(stripped) => stripped.to_string(),
            None => name,
        }
    }
}

/// `WebStats` -> `web_stats`, `HTTPStats` -> `http_stats`, `Db2` -> `db2`.
pub fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.trim_start_matches("r#").chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let after_lower =
                i > 0 && (chars[i - 1].is_lowercase() || chars[i - 1].is_ascii_digit());
            let before_lower = i > 0
                && chars[i - 1].is_uppercase()
                && chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if (after_lower || before_lower) && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::snake_case;

    #[test]
    fn struct_names_in_snake_case() {
        assert_eq!(snake_case("WebStats"), "web_stats");
        assert_eq!(snake_case("HTTPStats"), "http_stats");
        assert_eq!(snake_case("Db2Stats"), "db2_stats");
        assert_eq!(snake_case("stats"), "stats");
        assert_eq!(snake_case("My_Stats"), "my_stats");
    }
}
