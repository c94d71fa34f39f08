//! Global variables set from text, typed by the object's BTF: the bytes
//! [`Loader::global`](crate::Loader::global) takes, from what a user typed
//! (`corebpf run --set NAME=VALUE`).

use super::{GlobalKind, MapKind, ObjectSpec};
use crate::btf::{format, value, Kind};

/// A global variable that cannot be set from the text given.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GlobalValueError {
    /// The object has no BTF, so its globals have no names or types.
    #[error("the object has no BTF to find global '{name}' in")]
    NoBtf {
        /// The name given.
        name: String,
    },
    /// No `.data*`, `.rodata*` or `.bss*` variable has that name.
    #[error("no global variable '{name}' (the object's globals: {})", list(.globals))]
    NoSuchGlobal {
        /// The name given.
        name: String,
        /// The globals the object has.
        globals: Vec<String>,
    },
    /// The text is no value of the variable's type.
    #[error("cannot set global '{name}' of type {type_name}")]
    BadValue {
        /// The variable.
        name: String,
        /// Its BTF type, spelt as in C (`u32`, `enum mode`, `char[16]`).
        type_name: String,
        /// What is wrong with the text.
        #[source]
        source: value::ValueError,
    },
}

fn list(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// A global variable of an object: see [`ObjectSpec::globals`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalInfo {
    /// Its name.
    pub name: String,
    /// `.data`, `.rodata` or `.bss`.
    pub kind: GlobalKind,
    /// Its BTF type (modifiers included), in the object's BTF.
    pub type_id: u32,
    /// Its BTF type spelt as in C, modifiers left out: `u32`, `enum mode`, `char[16]`.
    pub type_name: String,
}

impl ObjectSpec {
    /// The object's global variables in `.data*`, `.rodata*` and `.bss*` (what
    /// [`Loader::global`](crate::Loader::global) can set), with their BTF types, in
    /// section order. Empty without BTF.
    pub fn globals(&self) -> Vec<GlobalInfo> {
        let Some(btf) = self.btf.as_ref() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for m in &self.maps {
            let MapKind::GlobalData(kind) = m.kind else {
                continue;
            };
            if kind == GlobalKind::Kconfig || m.btf_value_type_id == 0 {
                continue;
            }
            let Ok(sec) = btf.type_by_id(m.btf_value_type_id) else {
                continue;
            };
            for v in sec.datasec_vars() {
                let Ok(var) = btf.type_by_id(v.type_id) else {
                    continue;
                };
                if var.kind != Kind::Var {
                    continue;
                }
                let Ok(name) = btf.name_of(&var) else {
                    continue;
                };
                let shown = btf.skip_mods(var.ref_type()).unwrap_or(var.ref_type());
                out.push(GlobalInfo {
                    name: name.to_string(),
                    kind,
                    type_id: var.ref_type(),
                    type_name: format::format_type_name(btf, shown),
                });
            }
        }
        out
    }

    /// The bytes of global variable `name` holding `text`, read as its BTF type says
    /// (integers of any size and sign, decimal or `0x` hex; `true`/`false`; enumerator
    /// names; strings for `char` arrays: see [`crate::btf::value`]), ready for
    /// [`Loader::global`](crate::Loader::global).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let spec = corebpf::ObjectSpec::from_file("bpf-progs/hello.bpf.o".as_ref())?;
    /// let bytes = spec.global_value("target_tgid", "1234")?;
    /// assert_eq!(bytes, 1234u32.to_le_bytes());
    /// let err = spec.global_value("target_tgid", "-1").unwrap_err();
    /// assert_eq!(err.to_string(), "cannot set global 'target_tgid' of type u32");
    /// let loader = corebpf::Loader::new().global("target_tgid", &bytes);
    /// # let _ = loader;
    /// # Ok(())
    /// # }
    /// ```
    pub fn global_value(&self, name: &str, text: &str) -> Result<Vec<u8>, GlobalValueError> {
        let Some(btf) = self.btf.as_ref() else {
            return Err(GlobalValueError::NoBtf { name: name.into() });
        };
        let globals = self.globals();
        let Some(g) = globals.iter().find(|g| g.name == name) else {
            return Err(GlobalValueError::NoSuchGlobal {
                name: name.into(),
                globals: globals.into_iter().map(|g| g.name).collect(),
            });
        };
        value::encode(btf, g.type_id, text).map_err(|source| GlobalValueError::BadValue {
            name: name.into(),
            type_name: g.type_name.clone(),
            source,
        })
    }
}
