//! The registry of conclab's own models: [`models!`] turns one line per model (its variant
//! of `ModelKind` and its file) into the enum and the lookup of each model's answers.

/// `Variant => file,` per model, in the order tables and charts list them; a line may carry
/// attributes (`#[cfg(test)]`). The files are declared as modules beside the registry, not
/// by it: rustfmt does not format a module declared inside a macro.
macro_rules! models {
    ($( $(#[$attr:meta])* $variant:ident => $file:ident, )*) => {
        /// conclab's own execution models; each answers for itself from its file
        /// ([`ModelKind::model`]). Names are the variants in snake_case.
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            serde::Serialize, serde::Deserialize, strum::IntoStaticStr, strum::EnumString,
        )]
        #[serde(rename_all = "snake_case")]
        #[strum(serialize_all = "snake_case")]
        pub enum ModelKind {
            $( $(#[$attr])* $variant, )*
        }

        impl ModelKind {
            pub const ALL: [ModelKind; [$( $(#[$attr])* ModelKind::$variant, )*].len()] =
                [$( $(#[$attr])* ModelKind::$variant, )*];

            /// What the model's own file says about it, and its scheduler.
            pub fn model(self) -> &'static $crate::model::descriptor::RustModel {
                match self {
                    $( $(#[$attr])* ModelKind::$variant => &$file::MODEL, )*
                }
            }
        }
    };
}
