//! The `#[derive(MmStats)]` macro of the `mmstats` crate.
//!
//! Use it through `mmstats::MmStats`; this crate is an implementation detail.
//! The macro reads the struct and its attributes, checks them (collecting
//! every mistake before reporting), and emits the layout as `const` items
//! that the compiler evaluates with the runtime's `const fn`s.

mod ast;
mod attr;
mod check;
mod ctxt;
mod expand;
mod labels;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput};

/// Derives `mmstats::MmStats`; see that crate for the attributes.
#[proc_macro_derive(MmStats, attributes(mmstats))]
pub fn derive_mmstats(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Derives `mmstats::Labels` for a fieldless enum; see that trait for the
/// attributes.
#[proc_macro_derive(Labels, attributes(mmstats))]
pub fn derive_labels(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    labels::derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
