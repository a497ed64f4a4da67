//! The code of `#[derive(Labels)]`.

use proc_macro2::TokenStream;
use quote::quote;

use super::{escape, Enum};

pub fn expand(parsed: &Enum) -> TokenStream {
    let ident = parsed.ident();
    let krate = match &parsed.krate {
        Some(path) => quote!(#path),
        None => quote!(::mmstats),
    };
    let count = parsed.variants.len();
    let key = &parsed.key.value;
    let pairs = parsed
        .variants
        .iter()
        .map(|m| format!("{key}=\"{}\"", escape(&m.value.value)));
    let variants: Vec<_> = parsed.variants.iter().map(|m| &m.variant.ident).collect();
    let indexes: Vec<usize> = (0..count).collect();
    let makes = indexes.iter().map(|i| quote!(__make(#i)?));
    quote! {
        #[automatically_derived]
        impl #krate::Labels for #ident {
            const DIMS: #krate::__private::LabelDims =
                #krate::__private::LabelDims::one(#krate::__private::LabelDim {
                    key: #key,
                    pairs: &[#(#pairs),*],
                });
            const COUNT: ::core::primitive::usize = #count;
            type Members<T> = [T; #count];

            #[inline]
            fn index(self) -> ::core::primitive::usize {
                match self {
                    #(#ident::#variants => #indexes,)*
                }
            }

            fn from_index(index: ::core::primitive::usize) -> ::core::option::Option<Self> {
                match index {
                    #(#indexes => ::core::option::Option::Some(#ident::#variants),)*
                    _ => ::core::option::Option::None,
                }
            }

            #[inline]
            fn member<T>(members: &[T; #count], at: Self) -> &T {
                &members[<Self as #krate::Labels>::index(at)]
            }

            fn build<T, E>(
                __make: &mut dyn ::core::ops::FnMut(::core::primitive::usize) -> ::core::result::Result<T, E>,
            ) -> ::core::result::Result<[T; #count], E> {
                ::core::result::Result::Ok([#(#makes),*])
            }
        }
    }
}
