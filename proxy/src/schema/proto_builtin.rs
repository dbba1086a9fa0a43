//! The imports Confluent's registry resolves without a reference: `confluent/meta.proto` (the
//! `(confluent.field_meta)` family of options), `confluent/type/decimal.proto` and
//! `confluent/type/variant.proto`, and Google's common types `google/type/*.proto`. Google's
//! well-known types (`google/protobuf/*.proto`) come with protox. A reference with the same import
//! name wins over these (the resolver is chained after the references).
//!
//! The `google/type` files are googleapis' own (Apache-2.0, licence headers kept), from the
//! `googleapis-common-protos` package. The `confluent` files are written here to Confluent's
//! definitions: the same packages, message names, field numbers and extension numbers (1088), so
//! data and options written against Confluent's files read the same.

use protox::file::{File, FileResolver};

/// Import name and text of every built-in file.
const FILES: &[(&str, &str)] = &[
    (
        "confluent/meta.proto",
        include_str!("protos/confluent/meta.proto"),
    ),
    (
        "confluent/type/decimal.proto",
        include_str!("protos/confluent/type/decimal.proto"),
    ),
    (
        "confluent/type/variant.proto",
        include_str!("protos/confluent/type/variant.proto"),
    ),
    (
        "google/type/calendar_period.proto",
        include_str!("protos/google/type/calendar_period.proto"),
    ),
    (
        "google/type/color.proto",
        include_str!("protos/google/type/color.proto"),
    ),
    (
        "google/type/date.proto",
        include_str!("protos/google/type/date.proto"),
    ),
    (
        "google/type/datetime.proto",
        include_str!("protos/google/type/datetime.proto"),
    ),
    (
        "google/type/dayofweek.proto",
        include_str!("protos/google/type/dayofweek.proto"),
    ),
    (
        "google/type/decimal.proto",
        include_str!("protos/google/type/decimal.proto"),
    ),
    (
        "google/type/expr.proto",
        include_str!("protos/google/type/expr.proto"),
    ),
    (
        "google/type/fraction.proto",
        include_str!("protos/google/type/fraction.proto"),
    ),
    (
        "google/type/interval.proto",
        include_str!("protos/google/type/interval.proto"),
    ),
    (
        "google/type/latlng.proto",
        include_str!("protos/google/type/latlng.proto"),
    ),
    (
        "google/type/money.proto",
        include_str!("protos/google/type/money.proto"),
    ),
    (
        "google/type/month.proto",
        include_str!("protos/google/type/month.proto"),
    ),
    (
        "google/type/phone_number.proto",
        include_str!("protos/google/type/phone_number.proto"),
    ),
    (
        "google/type/postal_address.proto",
        include_str!("protos/google/type/postal_address.proto"),
    ),
    (
        "google/type/quaternion.proto",
        include_str!("protos/google/type/quaternion.proto"),
    ),
    (
        "google/type/timeofday.proto",
        include_str!("protos/google/type/timeofday.proto"),
    ),
];

/// Resolves the built-in imports.
pub struct Builtin;

impl FileResolver for Builtin {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match FILES.iter().find(|(n, _)| *n == name) {
            Some((name, text)) => File::from_source(name, text),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_file_compiles() {
        for (name, _) in FILES {
            let mut resolver = protox::file::ChainFileResolver::new();
            resolver.add(Builtin);
            resolver.add(protox::file::GoogleFileResolver::new());
            let mut compiler = protox::Compiler::with_file_resolver(resolver);
            compiler
                .open_file(name)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
        assert_eq!(FILES.len(), 19);
    }
}
