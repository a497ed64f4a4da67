//! Code generation from the checked model.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::DeriveInput;

use crate::ast::Model;
use crate::check;
use crate::ctxt::Ctxt;

pub fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let cx = Ctxt::new();
    let model = Model::from_input(&cx, input);
    if let Some(model) = &model {
        check::check(&cx, input, model);
    }
    cx.check()?;
    match model {
        Some(model) => Ok(expand(&model)),
        // `from_input` records an error whenever it gives nothing back.
        None => Ok(TokenStream::new()),
    }
}

fn expand(model: &Model) -> TokenStream {
    let ident = model.ident;
    let name = ident.to_string();
    let short_name = model.short_name();
    let krate = match &model.attrs.krate {
        Some(path) => quote!(#path),
        None => quote!(::mmstats),
    };
    let own = model.fields.len();
    let defaults = if model.has_defaults() {
        model.default_labels()
    } else {
        Vec::new()
    };
    let default_count = defaults.len();

    let own_specs = model.fields.iter().map(|field| {
        let ty = field.ty;
        let label = &field.label;
        let unit = field.attrs.unit.as_ref().map_or("", |u| u.value.as_str());
        let key = field_key(field);
        let help = match &field.attrs.help {
            Some(help) => help.value.clone(),
            None => field.attrs.doc.clone(),
        };
        quote_spanned! {field.ty_span()=>
            __mm::Decl {
                spec: __mm::FieldSpec::new(#label, <#ty as __mm::Field>::TYPE, #unit, #help),
                parts: <#ty as __mm::Field>::PARTS,
                members: &<#ty as __mm::Field>::MEMBERS.keyed(#key),
            }
        }
    });
    let member_checks = model.fields.iter().map(|field| {
        let ty = field.ty;
        let has_key = field.attrs.key.is_some();
        let key = field_key(field);
        let span = field
            .attrs
            .key
            .as_ref()
            .map_or(field.ident.span(), |k| k.span);
        quote_spanned! {span=>
            const _: () = __mm::check_members(&<#ty as __mm::Field>::MEMBERS.keyed(#key), #has_key);
        }
    });
    let default_specs = defaults
        .iter()
        .enumerate()
        .map(|(index, label)| quote!(__mm::default_field(#index, #label)));
    let default_check = (!defaults.is_empty()).then(|| {
        let suffixes = crate::ast::DEFAULT_LABELS;
        quote! {
            const _: () = {
                let expected = [#(#suffixes),*];
                let mut i = 0;
                while i < expected.len() {
                    let (a, b) = (expected[i].as_bytes(), __mm::DEFAULT_LABELS[i].as_bytes());
                    ::core::assert!(a.len() == b.len(), "mmstats-derive and mmstats disagree on the default fields");
                    let mut j = 0;
                    while j < a.len() {
                        ::core::assert!(a[j] == b[j], "mmstats-derive and mmstats disagree on the default fields");
                        j += 1;
                    }
                    i += 1;
                }
            };
        }
    });
    let type_checks = model.fields.iter().enumerate().map(|(index, field)| {
        let has_value = field.attrs.value.is_some();
        // Reads the type from the declaration, so that a type that is not a
        // field is reported once, by `decl`, not again here.
        quote_spanned! {field.ty_span()=>
            const _: () = __mm::check_type(__DECLS[#index].spec.ty, #has_value);
        }
    });
    let statics = model
        .fields
        .iter()
        .enumerate()
        .filter_map(|(index, field)| {
            let value = field.attrs.value.as_ref()?;
            let ty = field.ty;
            let write = quote_spanned! {ty.span()=>
                __mm::write_static::<#ty>
            };
            let value = quote_spanned! {value.span()=> &(#value) };
            // The place is the field's main value among the file fields, which
            // is not its declaration index once a field before it publishes
            // parts (a `Summary` publishes six fields).
            Some(quote! {
                #write(__places, __FIRST[#index], #value)?;
            })
        });
    let binds = model.fields.iter().enumerate().map(|(index, field)| {
        let member = field.ident;
        let ty = field.ty;
        quote_spanned! {ty.span()=>
            #member: <#ty as __mm::Field>::bind(
                &__places.place(__FIRST[#index])?.of_type(&<#ty as __mm::Field>::TYPE)?
            )?
        }
    });
    let members = model.fields.iter().map(|field| field.ident);
    let dir = option_str(model.attrs.dir.as_ref().map(|d| d.value.as_str()));
    let file = option_str(model.attrs.file.as_ref().map(|f| f.value.as_str()));
    let slot = format_ident!("__MMSTATS_SLOT");

    quote! {
        #[doc(hidden)]
        #[allow(non_upper_case_globals, clippy::all)]
        const _: () = {
            use #krate::__private as __mm;

            const __DECLS: [__mm::Decl; #own] = [#(#own_specs,)*];
            const __DEFAULTS: [__mm::FieldSpec; #default_count] = [#(#default_specs,)*];
            const __OWN: ::core::primitive::usize = __mm::spec_count(&__DECLS);
            const __FIRST: [::core::primitive::usize; #own] = __mm::first_indexes(&__DECLS);
            const __FIELDS: [__mm::FieldSpec; __OWN + #default_count] =
                __mm::expand_specs(&__DECLS, &__DEFAULTS);
            const __LAYOUT: [__mm::FieldLayout; __OWN + #default_count] =
                __mm::layout(&__FIELDS);
            #(#type_checks)*
            #(#member_checks)*
            const _: () = __mm::check_specs(&__FIELDS);
            #default_check

            #[automatically_derived]
            impl __mm::MmStats for #ident {
                const MODEL: __mm::Model = __mm::Model {
                    name: #name,
                    short_name: #short_name,
                    fields: &__FIELDS,
                    layout: &__LAYOUT,
                    own_fields: __OWN,
                    content_size: __mm::content_size(&__FIELDS, &__LAYOUT),
                    dir: #dir,
                    file: #file,
                };

                fn __write_statics(
                    __places: &__mm::Places<'_>,
                ) -> ::core::result::Result<(), __mm::Error> {
                    #(#statics)*
                    ::core::result::Result::Ok(())
                }

                fn __bind(
                    __places: &__mm::Places<'_>,
                ) -> ::core::result::Result<Self, __mm::Error> {
                    let __stats = Self {
                        #(#binds,)*
                    };
                    // Published fields are often never read by the program
                    // itself; reading them here keeps dead-code warnings away.
                    #( let _ = &__stats.#members; )*
                    ::core::result::Result::Ok(__stats)
                }

                fn __thread_slot() -> &'static ::std::thread::LocalKey<__mm::ThreadSlot<Self>> {
                    ::std::thread_local! {
                        static #slot: __mm::ThreadSlot<#ident> = const { __mm::ThreadSlot::new() };
                    }
                    &#slot
                }
            }
        };
    }
}

fn option_str(value: Option<&str>) -> TokenStream {
    match value {
        Some(s) => quote!(::core::option::Option::Some(#s)),
        None => quote!(::core::option::Option::None),
    }
}

/// The label name of a `DynFamily` field: its `key`, else the field's name.
fn field_key(field: &crate::ast::Field) -> String {
    match &field.attrs.key {
        Some(key) => key.value.clone(),
        None => field.ident.unraw().to_string(),
    }
}
