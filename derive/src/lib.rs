//! `#[derive(Pod)]` for corebpf: implements `corebpf::Pod` for a struct after checking,
//! at compile time, everything the trait promises.
//!
//! Use it through corebpf (`use corebpf::Pod;`, the `derive` feature), not directly.
//! The derive refuses, with an error at the offending item:
//!
//! - anything but a struct (an enum has invalid bit patterns, a union's fields may differ
//!   in size);
//! - a struct without `#[repr(C)]`, `#[repr(transparent)]` or `#[repr(packed)]` (Rust's
//!   own layout is unspecified);
//! - generic parameters (the checks below need concrete field types);
//! - a field whose type is not `Pod` itself (pointers, references, `bool`, `char`, …);
//! - padding: the struct's size must equal the sum of its fields' sizes, asserted in a
//!   constant, so a hole the compiler inserts for alignment is a compile error (make it
//!   an explicit `_pad: [u8; N]` field instead).

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{parse_macro_input, Data, DeriveInput, Error, Fields};

/// Implements `corebpf::Pod` for a `#[repr(C)]` (or `transparent`/`packed`) struct of
/// `Pod` fields without padding; see the crate docs for what it refuses.
#[proc_macro_derive(Pod)]
pub fn derive_pod(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let fields = struct_fields(input)?;
    check_repr(input)?;
    check_generics(input)?;
    let name = &input.ident;
    let types: Vec<_> = fields.iter().map(|f| &f.ty).collect();
    // Each field's own span, so "not Pod" points at the field's type.
    let field_checks = types
        .iter()
        .map(|ty| quote_spanned! {ty.span()=> assert_field_is_pod::<#ty>();});
    let padding = format!(
        "#[derive(Pod)]: `{name}` has padding (its size is larger than the sum of its \
         fields' sizes); make the padding an explicit field, e.g. `_pad: [u8; N]`"
    );
    // No `0 + …`: the expression carries the user's span, and lints would see it.
    let fields_size = if types.is_empty() {
        quote!(0)
    } else {
        quote!(#(::core::mem::size_of::<#types>())+*)
    };
    let field_check = quote! {
        const _: fn() = || {
            fn assert_field_is_pod<T: ::corebpf::Pod>() {}
            #(#field_checks)*
        };
    };
    let size_check = quote_spanned! {name.span()=>
        const _: () = ::core::assert!(
            ::core::mem::size_of::<#name>() == #fields_size,
            #padding
        );
    };
    Ok(quote! {
        #field_check
        #size_check
        // SAFETY: checked above: a struct with a defined layout, no generics, every field
        // `Pod` (so no pointers, no invalid bit patterns) and no padding.
        #[automatically_derived]
        unsafe impl ::corebpf::Pod for #name {}
    })
}

/// The struct's fields; an error for enums and unions.
fn struct_fields(input: &DeriveInput) -> syn::Result<&Fields> {
    match &input.data {
        Data::Struct(s) => Ok(&s.fields),
        Data::Enum(e) => Err(Error::new(
            e.enum_token.span,
            "#[derive(Pod)] is for structs: an enum has bit patterns that are not valid values",
        )),
        Data::Union(u) => Err(Error::new(
            u.union_token.span,
            "#[derive(Pod)] is for structs: a union's fields may differ in size, leaving \
             bytes that are padding for some of them",
        )),
    }
}

/// Requires a layout Rust defines: `repr(C)`, `repr(transparent)` or `repr(packed)`.
fn check_repr(input: &DeriveInput) -> syn::Result<()> {
    let mut defined = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        attr.parse_nested_meta(|meta| {
            if ["C", "transparent", "packed"]
                .iter()
                .any(|r| meta.path.is_ident(r))
            {
                defined = true;
            }
            // Skip arguments such as `packed(2)` or `align(8)`.
            if meta.input.peek(syn::token::Paren) {
                let args;
                syn::parenthesized!(args in meta.input);
                args.parse::<TokenStream2>()?;
            }
            Ok(())
        })?;
    }
    if defined {
        return Ok(());
    }
    Err(Error::new(
        input.ident.span(),
        "#[derive(Pod)] needs a defined layout: add #[repr(C)] (or #[repr(transparent)], \
         #[repr(packed)]) so the struct matches the BPF program's C struct",
    ))
}

/// Refuses generic parameters: the padding and field checks need concrete types.
fn check_generics(input: &DeriveInput) -> syn::Result<()> {
    match input.generics.params.first() {
        None => Ok(()),
        Some(param) => Err(Error::new(
            param.span(),
            "#[derive(Pod)] does not take generic parameters: its layout checks need \
             concrete field types",
        )),
    }
}
