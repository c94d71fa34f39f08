//! The `.kconfig` map's initial value: which source answers each `__kconfig` extern
//! (libbpf's virtual `LINUX_*` values, the caller's configuration, the kernel's) and
//! how its value is encoded, range-checked, into the extern's bytes.

use crate::btf::fixup::KCONFIG_SEC;
use crate::btf::BtfError;
use crate::object::{ExternKind, GlobalKind, MapKind, ObjectSpec};

use super::kconfig::{type_value, KconfigType, Typed};
use super::resolve::Ext;
use super::{
    tristate, ConfigEntry, ExternEnv, ExternError, ExternValue, KconfigData, KernelConfig,
};

/// Fills the `.kconfig` map's value for the `__kconfig` externs of `exts`: libbpf's
/// virtual `LINUX_*` values from `env`, `CONFIG_*` values from `user_config`, then from
/// the kernel's configuration for those still unset.
pub(super) fn resolve_kconfig(
    spec: &ObjectSpec,
    exts: &mut [Ext],
    user_config: Option<&KernelConfig>,
    env: &dyn ExternEnv,
) -> Result<KconfigData, ExternError> {
    let map = kconfig_map_index(spec, exts)?;
    let mut data = vec![0u8; spec.maps[map].value_size as usize];
    let mut need_config = false;
    for e in exts.iter_mut().filter(|e| e.kind == ExternKind::Kconfig) {
        let slot = slot_of(e, &mut data)?;
        if e.name.starts_with("CONFIG_") {
            need_config = true;
            continue;
        }
        let value = virtual_value(e, env)?;
        set_num(e, slot, value, &value.to_string(), true)?;
    }
    if need_config {
        let unavailable = set_from_configs(exts, &mut data, user_config, env)?;
        settle_unset(exts, unavailable.as_deref())?;
    }
    Ok(KconfigData { map, data })
}

/// The index of the `.kconfig` map in `spec.maps`; its absence is an error naming the
/// first `__kconfig` extern.
fn kconfig_map_index(spec: &ObjectSpec, exts: &[Ext]) -> Result<usize, ExternError> {
    spec.maps
        .iter()
        .position(|m| m.kind == MapKind::GlobalData(GlobalKind::Kconfig))
        .ok_or_else(|| ExternError::Btf {
            name: exts
                .iter()
                .find(|e| e.kind == ExternKind::Kconfig)
                .map(|e| e.name.clone())
                .unwrap_or_default(),
            source: BtfError::Invalid(format!("the object has no {KCONFIG_SEC} map")),
        })
}

/// The bytes of `data` (the `.kconfig` map's value) that extern `e` occupies; an error
/// when the DATASEC puts them past its end.
fn slot_of<'d>(e: &Ext, data: &'d mut [u8]) -> Result<&'d mut [u8], ExternError> {
    let (start, end) = (e.offset as usize, e.offset as usize + e.size as usize);
    let len = data.len();
    data.get_mut(start..end).ok_or_else(|| ExternError::Btf {
        name: e.name.clone(),
        source: BtfError::Invalid(format!(
            "at {start}..{end}, past the {len} bytes of {KCONFIG_SEC}"
        )),
    })
}

/// The value of a virtual `LINUX_*` extern (an unknown one is zero when weak).
fn virtual_value(e: &Ext, env: &dyn ExternEnv) -> Result<u64, ExternError> {
    Ok(match e.name.as_str() {
        "LINUX_KERNEL_VERSION" => env
            .kernel_version()
            .map_err(|reason| ExternError::Source {
                name: e.name.clone(),
                what: "the kernel version",
                reason,
            })?
            .into(),
        "LINUX_HAS_BPF_COOKIE" => u64::from(env.has_bpf_cookie()),
        "LINUX_HAS_SYSCALL_WRAPPER" => u64::from(env.has_syscall_wrapper()),
        n if n.starts_with("LINUX_") && e.weak => 0,
        _ => {
            return Err(ExternError::UnknownVirtual {
                name: e.name.clone(),
            })
        }
    })
}

/// Sets the `CONFIG_` externs from the caller's configuration, then those still unset
/// from the kernel's. Returns why the kernel's configuration was unavailable, when it
/// was needed and was.
fn set_from_configs(
    exts: &mut [Ext],
    data: &mut [u8],
    user_config: Option<&KernelConfig>,
    env: &dyn ExternEnv,
) -> Result<Option<String>, ExternError> {
    if let Some(cfg) = user_config {
        apply_config(exts, data, cfg)?;
    }
    if !exts
        .iter()
        .any(|e| e.kind == ExternKind::Kconfig && e.value.is_none())
    {
        return Ok(None);
    }
    match env.kernel_config() {
        Ok(Some(cfg)) => apply_config(exts, data, cfg).map(|()| None),
        Ok(None) => Ok(Some("the kernel offers no configuration".to_string())),
        Err(reason) => Ok(Some(reason)),
    }
}

/// Weak `__kconfig` externs that no configuration set are zero; a strong one is an
/// error, saying the configuration was `unavailable` (why) or did not set it.
fn settle_unset(exts: &mut [Ext], unavailable: Option<&str>) -> Result<(), ExternError> {
    for e in exts
        .iter_mut()
        .filter(|e| e.kind == ExternKind::Kconfig && e.value.is_none())
    {
        if !e.weak {
            return Err(match unavailable {
                Some(reason) => ExternError::Source {
                    name: e.name.clone(),
                    what: "the kernel configuration",
                    reason: reason.to_string(),
                },
                None => ExternError::Unresolved {
                    name: e.name.clone(),
                    kind: "kconfig",
                    reason: "not set in the kernel configuration".into(),
                },
            });
        }
        e.value = Some(ExternValue::Unresolved);
    }
    Ok(())
}

/// Sets the still-unset `CONFIG_` externs that `cfg` has values for.
fn apply_config(exts: &mut [Ext], data: &mut [u8], cfg: &KernelConfig) -> Result<(), ExternError> {
    for e in exts.iter_mut() {
        if e.kind != ExternKind::Kconfig || e.value.is_some() || !e.name.starts_with("CONFIG_") {
            continue;
        }
        let slot = &mut data[e.offset as usize..(e.offset + e.size) as usize];
        match cfg.get(&e.name) {
            None => {}
            Some(ConfigEntry::NotSet) => set_not_set(e, slot)?,
            Some(ConfigEntry::Value(v)) => set_value(e, slot, v)?,
        }
    }
    Ok(())
}

/// `# CONFIG_X is not set`: `n` for a bool, tristate or char extern; others stay unset.
fn set_not_set(e: &mut Ext, slot: &mut [u8]) -> Result<(), ExternError> {
    if matches!(
        e.kcfg,
        Some(KconfigType::Bool | KconfigType::Tristate | KconfigType::Char)
    ) {
        set_tri(e, slot, b'n', "n")?;
    }
    Ok(())
}

/// `CONFIG_X=v`: `v` typed by its text, then encoded as extern `e`'s type takes it.
fn set_value(e: &mut Ext, slot: &mut [u8], v: &str) -> Result<(), ExternError> {
    let bad = |reason: String| ExternError::BadValue {
        name: e.name.clone(),
        value: v.to_string(),
        reason,
    };
    match type_value(v).map_err(bad)? {
        Typed::Tri(c) => set_tri(e, slot, c, v),
        Typed::Str(s) => set_str(e, slot, &s, v),
        Typed::Num(_) if !matches!(e.kcfg, Some(KconfigType::Int { .. } | KconfigType::Char)) => {
            Err(bad(format!(
                "implies an integer type, but the extern is a {}",
                e.kcfg.map_or("?", KconfigType::name)
            )))
        }
        Typed::Num(n) => set_num(e, slot, n, v, false),
    }
}

/// Marks `e` set: its value is in its bytes of the `.kconfig` map.
fn kconfig_done(e: &mut Ext) {
    e.value = Some(ExternValue::Kconfig {
        offset: e.offset,
        size: e.size,
    });
}

/// Sets `e` from `y`, `m` or `n` (`c`; `text` is the value as written): a bool takes
/// `y`/`n`, a tristate all three, a char the letter itself.
fn set_tri(e: &mut Ext, slot: &mut [u8], c: u8, text: &str) -> Result<(), ExternError> {
    let bad = |reason: &str| ExternError::BadValue {
        name: e.name.clone(),
        value: text.to_string(),
        reason: reason.to_string(),
    };
    match e.kcfg {
        Some(KconfigType::Bool) => {
            if c == b'm' {
                return Err(bad(
                    "implies a tristate or char type, but the extern is a bool",
                ));
            }
            slot[0] = u8::from(c == b'y');
        }
        Some(KconfigType::Tristate) => {
            let v = match c {
                b'y' => tristate::YES,
                b'm' => tristate::MODULE,
                _ => tristate::NO,
            };
            let n = slot.len().min(4);
            slot[..n].copy_from_slice(&v.to_le_bytes()[..n]);
        }
        Some(KconfigType::Char) => slot[0] = c,
        _ => return Err(bad("implies a bool, tristate or char type")),
    }
    kconfig_done(e);
    Ok(())
}

/// Sets `e`, a char array, from string `s` (`text` as written), NUL-terminated and
/// truncated to fit, with a warning, as libbpf does.
fn set_str(e: &mut Ext, slot: &mut [u8], s: &[u8], text: &str) -> Result<(), ExternError> {
    if e.kcfg != Some(KconfigType::CharArray) {
        return Err(ExternError::BadValue {
            name: e.name.clone(),
            value: text.to_string(),
            reason: "implies a char array type".into(),
        });
    }
    let mut len = s.len();
    if len >= slot.len() {
        log::warn!(
            "extern (kconfig) '{}': long string '{text}' of {len} bytes truncated to {} bytes",
            e.name,
            slot.len() - 1
        );
        len = slot.len() - 1;
    }
    slot[..len].copy_from_slice(&s[..len]);
    slot[len] = 0;
    kconfig_done(e);
    Ok(())
}

/// libbpf's `set_kcfg_value_num`; `virtual_` allows bool (0/1) as libbpf does for the
/// `LINUX_*` values.
fn set_num(
    e: &mut Ext,
    slot: &mut [u8],
    v: u64,
    text: &str,
    virtual_: bool,
) -> Result<(), ExternError> {
    let bad = |reason: String| ExternError::BadValue {
        name: e.name.clone(),
        value: text.to_string(),
        reason,
    };
    let signed = number_is_signed(e.kcfg, v, virtual_).map_err(bad)?;
    let sz = slot.len();
    if !fits(v, sz, signed) {
        return Err(bad(format!(
            "doesn't fit in {sz} {}byte{}",
            if signed { "signed " } else { "" },
            if sz == 1 { "" } else { "s" }
        )));
    }
    slot.copy_from_slice(&v.to_le_bytes()[..sz]);
    kconfig_done(e);
    Ok(())
}

/// Whether an extern of type `kcfg` takes number `v` as signed; `Err` says why it does
/// not take it at all (a bool takes 0 or 1, and only when `virtual_`).
fn number_is_signed(kcfg: Option<KconfigType>, v: u64, virtual_: bool) -> Result<bool, String> {
    match kcfg {
        Some(KconfigType::Int { signed }) => Ok(signed),
        Some(KconfigType::Char) => Ok(false),
        Some(KconfigType::Bool) if virtual_ => {
            if v > 1 {
                return Err("isn't boolean compatible".into());
            }
            Ok(false)
        }
        other => Err(format!(
            "implies an integer, char or bool type, but the extern is a {}",
            other.map_or("?", KconfigType::name)
        )),
    }
}

/// Whether `v` (a u64, negative values as two's complement) fits `sz` bytes.
fn fits(v: u64, sz: usize, signed: bool) -> bool {
    if sz >= 8 {
        return true;
    }
    let bits = sz as u32 * 8;
    if signed {
        v.wrapping_add(1u64 << (bits - 1)) < (1u64 << bits)
    } else {
        v >> bits == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reloc::externs::fixtures::*;
    use crate::reloc::externs::{resolve, Resolution};

    /// The `.kconfig` map libbpf 1.1 (bpftool v7.1.0) built for `externs.bpf.o` on a 6.18.44
    /// kernel with [`CONFIG`] (`bpftool map dump name externs.kconfig`), where it reported
    /// `LINUX_HAS_SYSCALL_WRAPPER` as 0 (no kprobes to probe with).
    const LIBBPF_KCONFIG: &str = "000000000000addefa0000000000000000000000010000002c12060000000000010001002d66632d763434350000000000000000";

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn kconfig_value<'a>(spec: &ObjectSpec, res: &'a Resolution, name: &str) -> &'a [u8] {
        let (off, size) = kconfig_slot(spec, name);
        &res.kconfig.as_ref().unwrap().data[off..off + size]
    }

    fn resolve_with_config(text: &str) -> Result<(ObjectSpec, Resolution), ExternError> {
        let spec = object("externs.bpf.o");
        let res = resolve(&spec, &weak_of(&spec), None, &env(Some(text)))?;
        Ok((spec, res))
    }

    #[test]
    fn range_checks() {
        assert!(fits(255, 1, false) && !fits(256, 1, false));
        assert!(fits(127, 1, true) && !fits(128, 1, true));
        assert!(fits((-128i64) as u64, 1, true) && !fits((-129i64) as u64, 1, true));
        assert!(!fits((-1i64) as u64, 4, false));
        assert!(fits(u32::MAX.into(), 4, false) && !fits(1 << 32, 4, false));
        assert!(fits(i32::MAX as u64, 4, true) && !fits(1 << 31, 4, true));
        assert!(fits(u64::MAX, 8, false) && fits(u64::MAX, 8, true));
    }

    #[test]
    fn kconfig_bytes_match_libbpf() {
        let spec = object("externs.bpf.o");
        let res = resolve(&spec, &weak_of(&spec), None, &env(Some(CONFIG))).unwrap();
        let k = res.kconfig.as_ref().unwrap();
        assert_eq!(spec.maps[k.map].name, ".kconfig");
        assert_eq!(hex(&k.data), LIBBPF_KCONFIG);
        // Every kconfig extern is described.
        let hz = res.get("CONFIG_HZ").unwrap();
        assert!(!hz.weak);
        assert!(matches!(hz.value, ExternValue::Kconfig { size: 4, .. }));
        assert_eq!(
            res.get("CONFIG_NOT_THERE_XYZ").unwrap().value,
            ExternValue::Unresolved
        );
        assert!(res.get("CONFIG_NOT_THERE_XYZ").unwrap().weak);
        // libbpf's order: kconfig externs first, each group by name.
        let names: Vec<&str> = res.externs.iter().map(|e| e.name.as_str()).collect();
        let (k, s) = names.split_at(12);
        assert!(k
            .iter()
            .all(|n| n.starts_with("CONFIG_") || n.starts_with("LINUX_")));
        assert!(k.windows(2).all(|w| w[0] < w[1]) && s.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn kconfig_value_kinds() {
        let (spec, res) = resolve_with_config(
            "CONFIG_BPF_SYSCALL=y\nCONFIG_HZ=-5\nCONFIG_TCP_CONG_CUBIC=m\nCONFIG_MODULES=y\n\
             CONFIG_KPROBES=n\nCONFIG_LOCALVERSION=\"0123456789abcdefXYZ\"\n\
             CONFIG_ILLEGAL_POINTER_VALUE=-1\nCONFIG_NOT_THERE_XYZ=017\n",
        )
        .unwrap();
        let v = |n| kconfig_value(&spec, &res, n);
        assert_eq!(
            v("CONFIG_HZ"),
            (-5i32).to_le_bytes(),
            "negative into a signed int"
        );
        assert_eq!(v("CONFIG_TCP_CONG_CUBIC"), tristate::MODULE.to_le_bytes());
        assert_eq!(v("CONFIG_MODULES"), tristate::YES.to_le_bytes());
        assert_eq!(v("CONFIG_KPROBES"), [0]);
        assert_eq!(v("CONFIG_BPF_SYSCALL"), [1]);
        assert_eq!(v("CONFIG_LOCALVERSION"), b"0123456789abcde\0", "truncated");
        assert_eq!(v("CONFIG_ILLEGAL_POINTER_VALUE"), u64::MAX.to_le_bytes());
        assert_eq!(v("CONFIG_NOT_THERE_XYZ"), 15i32.to_le_bytes());
        assert_eq!(
            v("LINUX_KERNEL_VERSION"),
            kernel_version_6_18_44().to_le_bytes()
        );
        assert_eq!(v("LINUX_HAS_BPF_COOKIE"), [1]);
        assert_eq!(v("LINUX_HAS_SYSCALL_WRAPPER"), [0]);
        assert_eq!(v("LINUX_UNKNOWN_BUT_WEAK"), [0; 4]);
    }

    #[test]
    fn kconfig_not_set_is_n_for_bool_and_tristate_only() {
        let (spec, res) = resolve_with_config(
            "CONFIG_BPF_SYSCALL=y\nCONFIG_HZ=100\n# CONFIG_TCP_CONG_CUBIC is not set\n\
             # CONFIG_KPROBES is not set\n# CONFIG_LOCALVERSION is not set\n",
        )
        .unwrap();
        assert_eq!(kconfig_value(&spec, &res, "CONFIG_TCP_CONG_CUBIC"), [0; 4]);
        assert!(matches!(
            res.get("CONFIG_TCP_CONG_CUBIC").unwrap().value,
            ExternValue::Kconfig { .. }
        ));
        assert!(matches!(
            res.get("CONFIG_KPROBES").unwrap().value,
            ExternValue::Kconfig { .. }
        ));
        // A string extern is left unset (weak: zero), not given "n".
        assert_eq!(
            res.get("CONFIG_LOCALVERSION").unwrap().value,
            ExternValue::Unresolved
        );
    }

    #[test]
    fn kconfig_errors_name_the_extern() {
        let cases: [(&str, &str, &str); 8] = [
            (
                "CONFIG_HZ=4294967296",
                "CONFIG_HZ",
                "doesn't fit in 4 signed bytes",
            ),
            ("CONFIG_HZ=2147483648", "CONFIG_HZ", "doesn't fit"),
            (
                "CONFIG_HZ=y",
                "CONFIG_HZ",
                "implies a bool, tristate or char",
            ),
            ("CONFIG_HZ=\"250\"", "CONFIG_HZ", "implies a char array"),
            ("CONFIG_HZ=25O", "CONFIG_HZ", "isn't a valid integer"),
            (
                "CONFIG_BPF_SYSCALL=m",
                "CONFIG_BPF_SYSCALL",
                "tristate or char",
            ),
            (
                "CONFIG_BPF_SYSCALL=1",
                "CONFIG_BPF_SYSCALL",
                "implies an integer type",
            ),
            (
                "CONFIG_LOCALVERSION=5",
                "CONFIG_LOCALVERSION",
                "implies an integer type",
            ),
        ];
        for (line, name, reason) in cases {
            let text = format!("CONFIG_BPF_SYSCALL=y\nCONFIG_HZ=100\n{line}\n");
            // The bad line must come first to win: put it at the top.
            let text = format!("{line}\n{text}");
            match resolve_with_config(&text) {
                Err(e @ ExternError::BadValue { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(name) && msg.contains(reason), "{line}: {msg}");
                }
                other => panic!("{line}: {:?}", other.map(|(_, r)| r)),
            }
        }
    }

    #[test]
    fn strong_kconfig_missing() {
        // Present configuration without the value: unresolved, named.
        let err = resolve_with_config("CONFIG_BPF_SYSCALL=y\n").unwrap_err();
        assert!(
            matches!(&err, ExternError::Unresolved { name, kind: "kconfig", .. } if name == "CONFIG_HZ"),
            "{err}"
        );
        // No configuration at all: the first strong CONFIG_ extern says so.
        let spec = object("externs.bpf.o");
        let err = resolve(&spec, &weak_of(&spec), None, &env(None)).unwrap_err();
        assert!(
            matches!(&err, ExternError::Source { name, .. } if name == "CONFIG_BPF_SYSCALL"),
            "{err}"
        );
        // The user's text is enough when it sets the strong ones; the rest stay zero.
        let user = KernelConfig::parse("CONFIG_BPF_SYSCALL=y\nCONFIG_HZ=1000\n").unwrap();
        let res = resolve(&spec, &weak_of(&spec), Some(&user), &env(None)).unwrap();
        assert_eq!(
            kconfig_value(&spec, &res, "CONFIG_HZ"),
            1000i32.to_le_bytes()
        );
        assert_eq!(
            res.get("CONFIG_TCP_CONG_CUBIC").unwrap().value,
            ExternValue::Unresolved
        );
        // And it wins over the kernel's.
        let res = resolve(&spec, &weak_of(&spec), Some(&user), &env(Some(CONFIG))).unwrap();
        assert_eq!(
            kconfig_value(&spec, &res, "CONFIG_HZ"),
            1000i32.to_le_bytes()
        );
        assert_eq!(
            kconfig_value(&spec, &res, "CONFIG_TCP_CONG_CUBIC"),
            tristate::YES.to_le_bytes()
        );
    }
}
