//! Rewrites a patch's x86-64 ELF objects so that code reaching a static the
//! running program already has reaches the program's copy, not its own.
//!
//! rustc marks a crate's own statics `dso_local`, so code reaches them
//! PC-relatively (`R_X86_64_PC32`, usually against the static's *section*
//! symbol), which can only point inside the patch. At the dev profile's
//! `opt-level = 0` the address of a static with interior mutability (an
//! atomic, a `Mutex`, a `LazyLock`) is taken with `lea reg, [rip + X]`. That
//! instruction has a same-length twin that loads the address from the GOT
//! instead, `mov reg, [rip + GOT(X)]` (`8d` becomes `8b`, relocation
//! `R_X86_64_GOTPCREL`): the reverse of the relaxation linkers do every day.
//! Pointed at an undefined symbol that an extra object defines as the running
//! program's absolute address, the GOT slot holds the program's copy. Any
//! other instruction with a RIP-relative operand (`mov eax, [rip + X]`, a
//! `static mut` used by value) moves into a thunk ([`crate::thunk`]).
//! Pointers stored in data (`R_X86_64_64`) and references already through the
//! GOT are retargeted as they are. Thread-locals: see [`TlsPlan`].
//!
//! A reference no rewrite can carry is reported as [`Unbindable`] and the
//! patch is refused, never linked with a second copy. Debug info keeps
//! pointing at the patch's own (now unused) copy.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use object::build::elf::{Builder, SectionData, SectionId, SymbolId};
use object::build::Id;
use object::elf;

use crate::thunk;

/// What the base (the running program) has for one static.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseStatic {
    /// Address in the base executable's file (before ASLR).
    pub address: u64,
    pub size: u64,
    /// Hash of its initial bytes (zero-filled for `.bss`), to tell a changed initialiser.
    pub init_hash: u64,
    /// In a writable section: false for a static without interior mutability.
    pub writable: bool,
}

/// A data symbol of the patch that the base defines too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub size: u64,
    /// `None` when the object cannot tell (relocated bytes inside).
    pub init_hash: Option<u64>,
}

/// Why a static of the patch cannot share the base's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unbindable {
    SizeChanged {
        name: String,
        base: u64,
        now: u64,
    },
    BecameMutable {
        name: String,
    },
    TypeChanged {
        name: String,
    },
    NewThreadLocal {
        name: String,
    },
    DirectAccess {
        name: String,
        section: String,
        offset: u64,
        why: String,
    },
}

impl std::fmt::Display for Unbindable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unbindable::SizeChanged { name, base, now } => write!(
                f,
                "static {} changed size ({base} -> {now} bytes): the running program's value cannot be kept",
                crate::readable(name)
            ),
            Unbindable::BecameMutable { name } => write!(
                f,
                "static {} changed type: the running program has it immutable, the patch can change it",
                crate::readable(name)
            ),
            Unbindable::NewThreadLocal { name } => write!(
                f,
                "thread-local {} is new since the app was built: the running threads have no room for it",
                crate::readable(name)
            ),
            Unbindable::TypeChanged { name } => write!(
                f,
                "static {} changed type: the running program's value cannot be kept",
                crate::readable(name)
            ),
            Unbindable::DirectAccess {
                name,
                section,
                offset,
                why,
            } => write!(
                f,
                "static {} is reached in a way that cannot be pointed at the running program's copy (in {} at {offset:#x}: {why})",
                crate::readable(name),
                crate::readable(section.trim_start_matches(".text."))
            ),
        }
    }
}

/// The prefix of the undefined symbol each bound static is retargeted to. The
/// original name stays defined in the object (debug info points at it), so the
/// reference needs a name of its own.
pub const BASE_PREFIX: &str = "hotswap.base.";

/// What one object of the patch defines and names (a cheap read: only the
/// objects that refer to a bound static are rewritten).
#[derive(Debug, Default)]
pub struct Scan<'data> {
    /// Writable Rust statics it defines, with their sizes and initial bytes.
    pub statics: BTreeMap<String, Candidate>,
    /// Rust thread-locals it defines, with their sizes.
    pub thread_locals: Vec<(String, u64)>,
    /// Read-only Rust statics it defines (a second copy is harmless, unless
    /// the running program has that static writable: then its type changed).
    pub read_only: Vec<String>,
    /// Every symbol name it has, defined or not.
    pub names: HashSet<&'data str>,
}

pub fn scan(bytes: &[u8]) -> Result<Scan<'_>, RewriteError> {
    use object::{Object, ObjectSection, ObjectSymbol, SymbolKind, SymbolSection};
    let file = object::File::parse(bytes)
        .map_err(|e| RewriteError::Unsupported(format!("not an object: {e}")))?;
    let mut out = Scan::default();
    for symbol in file.symbols() {
        let Ok(name) = symbol.name() else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        out.names.insert(name);
        let SymbolSection::Section(index) = symbol.section() else {
            continue;
        };
        if !is_rust_name(name.as_bytes()) {
            continue;
        }
        match symbol.kind() {
            SymbolKind::Tls => out.thread_locals.push((name.to_string(), symbol.size())),
            SymbolKind::Data => {
                let Ok(section) = file.section_by_index(index) else {
                    continue;
                };
                let object::SectionFlags::Elf { sh_flags } = section.flags() else {
                    continue;
                };
                if !is_writable_data(section.name_bytes().unwrap_or_default(), sh_flags) {
                    out.read_only.push(name.to_string());
                    continue;
                }
                let (start, size) = (symbol.address(), symbol.size());
                let init_hash = if section.kind() == object::SectionKind::UninitializedData {
                    Some(hash_zeros(size))
                } else {
                    // Bytes a relocation fills in are not known before linking.
                    let relocated = section
                        .relocations()
                        .any(|(offset, _)| offset < start + size && offset + 8 > start);
                    match (relocated, section.data_range(start, size)) {
                        (false, Ok(Some(bytes))) => Some(hash(bytes)),
                        _ => None,
                    }
                };
                out.statics
                    .insert(name.to_string(), Candidate { size, init_hash });
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The path of a legacy-mangled symbol without its hash (`_ZN3app4HITS` for
/// `_ZN3app4HITS17h0123456789abcdefE`). A static's hash changes with its
/// type, its path does not: the same path under another name is a type change.
pub fn path_key(name: &str) -> &str {
    let bytes = name.as_bytes();
    let n = bytes.len();
    if name.starts_with("_ZN")
        && n > 20
        && bytes[n - 1] == b'E'
        && &name[n - 20..n - 17] == "17h"
        && bytes[n - 17..n - 1].iter().all(u8::is_ascii_hexdigit)
    {
        &name[..n - 20]
    } else {
        name
    }
}

/// The result of rewriting one object.
#[derive(Debug, Default)]
pub struct Rewritten {
    /// `None` when nothing referred to a bound static: use the object as it is.
    pub bytes: Option<Vec<u8>>,
    /// The statics whose references now go to the base's copy.
    pub bound: Vec<String>,
    /// The thread-locals whose accesses now reach the running program's.
    pub bound_thread_locals: Vec<String>,
    /// Thread-locals of the running program the patch reaches in a way that
    /// keeps its own copy (through `__tls_get_addr`).
    pub unbound_thread_locals: Vec<String>,
}

/// Retargets every reference in `bytes` to a static named in `bind` (by its
/// own symbol, its section's symbol, or an undefined symbol of that name) to
/// `BASE_PREFIX + name`.
/// The prefix of the undefined symbol each bound thread-local's GOT entry
/// refers to: an absolute symbol whose value is the thread-local's offset from
/// the thread pointer in the running program.
pub const TPOFF_PREFIX: &str = "hotswap.tpoff.";

pub fn rewrite(
    bytes: &[u8],
    bind: &HashSet<String>,
    tls: &HashMap<String, i64>,
) -> Result<Rewritten, RewriteError> {
    let ungrouped = without_groups(bytes)?;
    let mut builder = Builder::read(&*ungrouped)?;
    if builder.header.e_machine != elf::EM_X86_64 {
        return Err(RewriteError::Unsupported(format!(
            "ELF machine {} (only x86-64 patches are bound to the running program's statics)",
            builder.header.e_machine
        )));
    }

    // Symbols that stand for a bound static: the static's own symbol (defined
    // or not), and the section symbol of a section that holds one.
    let mut by_symbol: HashMap<usize, String> = HashMap::new();
    let mut by_section: HashMap<usize, Vec<(u64, u64, String)>> = HashMap::new();
    for symbol in &builder.symbols {
        let name = String::from_utf8_lossy(&symbol.name);
        if bind.contains(name.as_ref()) {
            by_symbol.insert(symbol.id().index(), name.to_string());
            if let Some(section) = symbol.section {
                by_section.entry(section.index()).or_default().push((
                    symbol.st_value,
                    symbol.st_size.max(1),
                    name.to_string(),
                ));
            }
        }
    }
    for symbol in &builder.symbols {
        if symbol.st_type() == elf::STT_SECTION {
            if let Some(section) = symbol.section {
                if by_section.contains_key(&section.index()) {
                    by_symbol.insert(symbol.id().index(), String::new());
                }
            }
        }
    }
    let tls_symbols: HashMap<usize, String> = builder
        .symbols
        .iter()
        .filter(|s| s.st_type() == elf::STT_TLS)
        .map(|s| {
            (
                s.id().index(),
                String::from_utf8_lossy(&s.name).into_owned(),
            )
        })
        .filter(|(_, name)| tls.contains_key(name))
        .collect();
    if by_symbol.is_empty() && tls_symbols.is_empty() {
        return Ok(Rewritten::default());
    }
    let section_of_symbol: HashMap<usize, SectionId> = builder
        .symbols
        .iter()
        .filter(|s| s.st_type() == elf::STT_SECTION)
        .filter_map(|s| s.section.map(|sec| (s.id().index(), sec)))
        .collect();

    // Plan every change first: relocations live in one section, the bytes
    // they patch in another.
    let mut retarget: Vec<Retarget> = Vec::new();
    let mut opcode_edits: Vec<(SectionId, usize)> = Vec::new();
    let mut thunks: Vec<ThunkSite> = Vec::new();
    let mut tls_plan = TlsPlan::default();
    for section in &builder.sections {
        let SectionData::Relocation(relocations) = &section.data else {
            continue;
        };
        let Some(target) = section.sh_info_section else {
            continue;
        };
        let target_section = builder.sections.get(target);
        if !target_section.is_alloc() {
            continue; // debug info keeps describing the patch's own copy
        }
        let code = match &target_section.data {
            SectionData::Data(data)
                if target_section.sh_flags & u64::from(elf::SHF_EXECINSTR) != 0 =>
            {
                Some(&**data)
            }
            _ => None,
        };
        for (index, relocation) in relocations.iter().enumerate() {
            let Some(symbol) = relocation.symbol else {
                continue;
            };
            if let Some(name) = tls_symbols.get(&symbol.index()) {
                tls_plan.add(section.id(), target, index, relocation, name, tls[name]);
                continue;
            }
            let Some(own_name) = by_symbol.get(&symbol.index()) else {
                continue;
            };
            let section_name = || String::from_utf8_lossy(&target_section.name).into_owned();
            // A PC-relative reference from code is the displacement of a
            // RIP-relative operand: the address is the instruction's end plus
            // the field, so the byte it points at is the addend plus the
            // distance from the field to that end (4 for a lea, more when an
            // immediate follows: `mov dword [rip + X], 7`).
            let pc_relative = matches!(relocation.r_type, elf::R_X86_64_PC32 | elf::R_X86_64_PLT32);
            let at = relocation.r_offset as usize;
            let site = match (pc_relative, code) {
                (true, Some(code)) => Some(thunk::site(code, at).map_err(|why| {
                    RewriteError::Unbindable(Unbindable::DirectAccess {
                        name: own_name.clone(),
                        section: section_name(),
                        offset: relocation.r_offset,
                        why,
                    })
                })?),
                _ => None,
            };
            let pointed = relocation.r_addend
                + site
                    .as_ref()
                    .map_or(0, |site| (site.start + site.len - at) as i64);
            let (name, offset_in_static) = if own_name.is_empty() {
                let section = section_of_symbol[&symbol.index()];
                let found = by_section[&section.index()]
                    .iter()
                    .find(|(start, size, _)| {
                        pointed >= *start as i64 && pointed < (*start + *size) as i64
                    });
                let Some((start, _, name)) = found else {
                    // A section that holds a bound static, pointed at outside
                    // of it: nothing to tell which static is meant.
                    let (_, _, name) = &by_section[&section.index()][0];
                    return Err(RewriteError::Unbindable(Unbindable::DirectAccess {
                        name: name.clone(),
                        section: section_name(),
                        offset: relocation.r_offset,
                        why: format!(
                            "a reference {pointed} bytes into its section, outside the static"
                        ),
                    }));
                };
                (name.clone(), pointed - *start as i64)
            } else {
                (own_name.clone(), pointed)
            };
            let unbindable = |why: String| {
                RewriteError::Unbindable(Unbindable::DirectAccess {
                    name: name.clone(),
                    section: section_name(),
                    offset: relocation.r_offset,
                    why,
                })
            };
            let plain = |r_type, r_addend| Retarget {
                rela: section.id(),
                index,
                name: name.clone(),
                r_type,
                r_addend,
            };
            match relocation.r_type {
                elf::R_X86_64_PC32 | elf::R_X86_64_PLT32 => {
                    let (Some(code), Some(site)) = (code, site) else {
                        return Err(unbindable("a PC-relative reference from data".into()));
                    };
                    let is_lea = at >= 3
                        && code[at - 3] & 0xf8 == 0x48
                        && code[at - 2] == 0x8d
                        && code[at - 1] & 0xc7 == 0x05
                        && site.len == at + 4 - site.start;
                    if is_lea && offset_in_static == 0 {
                        // Same length: lea -> mov from the GOT. Plain GOTPCREL,
                        // which no linker relaxes back into a lea.
                        opcode_edits.push((target, at - 2));
                        retarget.push(plain(elf::R_X86_64_GOTPCREL, -4));
                        continue;
                    }
                    let others_inside = relocations.iter().enumerate().any(|(i, r)| {
                        i != index
                            && (r.r_offset as usize) >= site.start
                            && (r.r_offset as usize) < site.start + site.len
                    });
                    if others_inside {
                        return Err(unbindable("an instruction with two relocations".into()));
                    }
                    let thunk = thunk::thunk(&site, offset_in_static).map_err(unbindable)?;
                    thunks.push(ThunkSite {
                        rela: section.id(),
                        index,
                        code: target,
                        site,
                        thunk,
                        name: name.clone(),
                    });
                }
                // The GOT holds the symbol's own address; the addend is the PC bias.
                // A relaxable GOT load becomes a plain one: against an absolute
                // symbol no linker may turn it back into a PC-relative lea.
                elf::R_X86_64_GOTPCREL | elf::R_X86_64_GOTPCRELX | elf::R_X86_64_REX_GOTPCRELX
                    if !own_name.is_empty() =>
                {
                    retarget.push(plain(elf::R_X86_64_GOTPCREL, relocation.r_addend));
                }
                elf::R_X86_64_64 => retarget.push(plain(elf::R_X86_64_64, offset_in_static)),
                other => return Err(unbindable(format!("relocation type {other}"))),
            }
        }
    }
    if retarget.is_empty() && thunks.is_empty() && tls_plan.is_empty() {
        return Ok(Rewritten {
            unbound_thread_locals: tls_plan.unbound.into_iter().collect(),
            ..Rewritten::default()
        });
    }
    // Former COMDAT groups (see `without_groups`) and the address-significance
    // table (symbol indices, for identical code folding only) are dropped.
    for section in builder.sections.iter_mut() {
        section.sh_flags &= !u64::from(elf::SHF_GROUP);
        if section.name.as_slice() == b".group" || section.sh_type == SHT_LLVM_ADDRSIG {
            section.delete = true;
        }
    }

    let mut new_symbols: BTreeMap<String, SymbolId> = BTreeMap::new();
    let names = retarget
        .iter()
        .map(|r| &r.name)
        .chain(thunks.iter().map(|t| &t.name));
    for name in names {
        if new_symbols.contains_key(name) {
            continue;
        }
        let symbol = undefined_symbol(&mut builder, &format!("{BASE_PREFIX}{name}"));
        new_symbols.insert(name.clone(), symbol);
    }
    for (section, at) in opcode_edits {
        let section = builder.sections.get_mut(section);
        if let SectionData::Data(data) = &mut section.data {
            data.to_mut()[at] = 0x8b; // lea -> mov from the GOT
        }
    }
    for r in retarget {
        set_relocation(
            &mut builder,
            r.rela,
            r.index,
            new_symbols[&r.name],
            r.r_type,
            r.r_addend,
        );
    }
    if !thunks.is_empty() {
        add_thunks(&mut builder, thunks, &new_symbols)?;
    }
    let (bound_thread_locals, unbound_thread_locals) = tls_plan.apply(&mut builder);
    // LLVM names sections from the symbol string table; the builder writes
    // section names to a table of their own.
    if !builder
        .sections
        .iter()
        .any(|s| matches!(s.data, SectionData::SectionString))
    {
        let names = builder.sections.add();
        names.name = b".shstrtab".to_vec().into();
        names.sh_type = elf::SHT_STRTAB;
        names.sh_addralign = 1;
        names.data = SectionData::SectionString;
    }
    let mut out = Vec::new();
    builder.write(&mut out)?;
    Ok(Rewritten {
        bytes: Some(out),
        bound: new_symbols.into_keys().collect(),
        bound_thread_locals,
        unbound_thread_locals,
    })
}

/// How the patch's references to the running program's thread-locals are
/// pointed at the program's own copies. The program is an executable, so
/// its thread-locals sit at fixed offsets from the thread pointer: a
/// local-exec access (`R_X86_64_TPOFF32`, which would not even link into a
/// shared library) gets that offset written in, and an initial-exec one
/// (`R_X86_64_GOTTPOFF`) loads it from a GOT slot holding the same constant.
/// General- and local-dynamic accesses (`__tls_get_addr`) keep the patch's copy.
#[derive(Default)]
struct TlsPlan {
    written: Vec<(SectionId, SectionId, usize, u64, i32)>,
    through_got: Vec<(SectionId, usize, String)>,
    bound: BTreeSet<String>,
    unbound: BTreeSet<String>,
}

impl TlsPlan {
    fn add(
        &mut self,
        rela: SectionId,
        target: SectionId,
        index: usize,
        relocation: &object::build::elf::Relocation,
        name: &str,
        tpoff: i64,
    ) {
        match relocation.r_type {
            elf::R_X86_64_TPOFF32 => match i32::try_from(tpoff + relocation.r_addend) {
                Ok(value) => {
                    self.written
                        .push((rela, target, index, relocation.r_offset, value));
                    self.bound.insert(name.to_string());
                }
                Err(_) => {
                    self.unbound.insert(name.to_string());
                }
            },
            elf::R_X86_64_GOTTPOFF => {
                self.through_got.push((rela, index, name.to_string()));
                self.bound.insert(name.to_string());
            }
            _ => {
                self.unbound.insert(name.to_string());
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.written.is_empty() && self.through_got.is_empty()
    }

    /// Returns the thread-locals bound and those left to the patch.
    fn apply(self, builder: &mut Builder<'_>) -> (Vec<String>, Vec<String>) {
        for (rela, target, index, offset, value) in self.written {
            if let SectionData::Data(data) = &mut builder.sections.get_mut(target).data {
                let at = offset as usize;
                data.to_mut()[at..at + 4].copy_from_slice(&value.to_le_bytes());
            }
            if let SectionData::Relocation(list) = &mut builder.sections.get_mut(rela).data {
                list[index].r_type = elf::R_X86_64_NONE;
                list[index].symbol = None;
                list[index].r_addend = 0;
            }
        }
        let mut symbols: BTreeMap<String, SymbolId> = BTreeMap::new();
        for (rela, index, name) in self.through_got {
            let symbol = *symbols
                .entry(name.clone())
                .or_insert_with(|| undefined_symbol(builder, &format!("{TPOFF_PREFIX}{name}")));
            if let SectionData::Relocation(list) = &mut builder.sections.get_mut(rela).data {
                // Same field, same addend: the slot now holds the offset itself.
                list[index].r_type = elf::R_X86_64_GOTPCREL;
                list[index].symbol = Some(symbol);
            }
        }
        let unbound = self.unbound.difference(&self.bound).cloned().collect();
        (self.bound.into_iter().collect(), unbound)
    }
}

fn undefined_symbol(builder: &mut Builder<'_>, name: &str) -> SymbolId {
    let symbol = builder.symbols.add();
    symbol.name = name.as_bytes().to_vec().into();
    symbol.set_st_info(elf::STB_GLOBAL, elf::STT_NOTYPE);
    symbol.st_other = elf::STV_HIDDEN;
    symbol.st_shndx = elf::SHN_UNDEF;
    symbol.id()
}

/// A relocation pointed at a bound static's new symbol.
struct Retarget {
    rela: SectionId,
    index: usize,
    name: String,
    r_type: u32,
    r_addend: i64,
}

/// An instruction moved into a thunk.
struct ThunkSite {
    rela: SectionId,
    index: usize,
    code: SectionId,
    site: thunk::Site,
    thunk: thunk::Thunk,
    name: String,
}

fn set_relocation(
    builder: &mut Builder<'_>,
    rela: SectionId,
    index: usize,
    symbol: SymbolId,
    r_type: u32,
    r_addend: i64,
) {
    if let SectionData::Relocation(relocations) = &mut builder.sections.get_mut(rela).data {
        let relocation = &mut relocations[index];
        relocation.symbol = Some(symbol);
        relocation.r_type = r_type;
        relocation.r_addend = r_addend;
    }
}

/// Puts every thunk into one new code section of the object, with its own
/// relocations, and turns each site into a jump to its thunk.
fn add_thunks(
    builder: &mut Builder<'_>,
    sites: Vec<ThunkSite>,
    new_symbols: &BTreeMap<String, SymbolId>,
) -> Result<(), RewriteError> {
    let symtab = builder
        .sections
        .iter()
        .find(|s| matches!(s.data, SectionData::Symbol))
        .map(|s| s.id())
        .ok_or_else(|| RewriteError::Unsupported("an object without a symbol table".into()))?;

    let mut bytes = Vec::new();
    let mut placed = Vec::new();
    for site in &sites {
        while bytes.len() % 16 != 0 {
            bytes.push(0xcc);
        }
        placed.push(bytes.len());
        bytes.extend_from_slice(&site.thunk.bytes);
    }
    let section = builder.sections.add();
    section.name = b".text.hotswap_thunks".to_vec().into();
    section.sh_type = elf::SHT_PROGBITS;
    section.sh_flags = u64::from(elf::SHF_ALLOC | elf::SHF_EXECINSTR);
    section.sh_addralign = 16;
    section.data = SectionData::Data(bytes.into());
    let thunk_section = section.id();
    let thunk_symbol = section_symbol(builder, thunk_section);

    let mut relocations = Vec::new();
    for (site, &offset) in sites.iter().zip(&placed) {
        let code_symbol = section_symbol(builder, site.code);
        relocations.push(object::build::elf::Relocation {
            r_offset: (offset + site.thunk.got_at) as u64,
            symbol: Some(new_symbols[&site.name]),
            r_type: elf::R_X86_64_GOTPCREL,
            r_addend: -4,
        });
        relocations.push(object::build::elf::Relocation {
            r_offset: (offset + site.thunk.back_at) as u64,
            symbol: Some(code_symbol),
            r_type: elf::R_X86_64_PC32,
            r_addend: (site.site.start + site.site.len) as i64 - 4,
        });
        if let SectionData::Data(data) = &mut builder.sections.get_mut(site.code).data {
            let jump = thunk::jump(site.site.len);
            data.to_mut()[site.site.start..site.site.start + site.site.len].copy_from_slice(&jump);
        }
        let r_offset = (site.site.start + 1) as u64;
        set_relocation(
            builder,
            site.rela,
            site.index,
            thunk_symbol,
            elf::R_X86_64_PC32,
            offset as i64 - 4,
        );
        if let SectionData::Relocation(list) = &mut builder.sections.get_mut(site.rela).data {
            list[site.index].r_offset = r_offset;
        }
    }
    let rela = builder.sections.add();
    rela.name = b".rela.text.hotswap_thunks".to_vec().into();
    rela.sh_type = elf::SHT_RELA;
    rela.sh_flags = u64::from(elf::SHF_INFO_LINK);
    rela.sh_link_section = Some(symtab);
    rela.sh_info_section = Some(thunk_section);
    rela.sh_addralign = 8;
    rela.sh_entsize = 24;
    rela.data = SectionData::Relocation(relocations);
    Ok(())
}

/// The section symbol of `section`, added when the object has none.
fn section_symbol(builder: &mut Builder<'_>, section: SectionId) -> SymbolId {
    if let Some(existing) = builder
        .symbols
        .iter()
        .find(|s| s.st_type() == elf::STT_SECTION && s.section == Some(section))
    {
        return existing.id();
    }
    let symbol = builder.symbols.add();
    symbol.set_st_info(elf::STB_LOCAL, elf::STT_SECTION);
    symbol.section = Some(section);
    symbol.id()
}

#[derive(Debug)]
pub enum RewriteError {
    Unbindable(Unbindable),
    Unsupported(String),
    Object(object::build::Error),
}

impl From<object::build::Error> for RewriteError {
    fn from(e: object::build::Error) -> Self {
        RewriteError::Object(e)
    }
}

impl std::fmt::Display for RewriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RewriteError::Unbindable(u) => u.fmt(f),
            RewriteError::Unsupported(what) => f.write_str(what),
            RewriteError::Object(e) => write!(f, "cannot rewrite the object: {e}"),
        }
    }
}

/// LLVM's address-significance table (not in `object::elf`).
const SHT_LLVM_ADDRSIG: u32 = 0x6fff_4c03;

/// `bytes` with every COMDAT group section (`SHT_GROUP`, which the ELF builder
/// cannot read) turned into a plain `.group` section, to be dropped. Members
/// of a group are `linkonce_odr` code and data with weak symbols, so a patch
/// linked without the groups keeps one definition of each and dead copies of
/// the others: dx's patch link does not collect garbage anyway. LLVM leaves
/// `SHF_INFO_LINK` off a group member's relocation section; it is set here
/// so the builder keeps `sh_info` pointing at the right section.
fn without_groups(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>, RewriteError> {
    use object::read::elf::{FileHeader, SectionHeader};
    let header = elf::FileHeader64::<object::Endianness>::parse(bytes)
        .map_err(|e| RewriteError::Unsupported(format!("not an ELF object: {e}")))?;
    let endian = header
        .endian()
        .map_err(|e| RewriteError::Unsupported(e.to_string()))?;
    let sections = header
        .section_headers(endian, bytes)
        .map_err(|e| RewriteError::Unsupported(e.to_string()))?;
    if !sections.iter().any(|s| s.sh_type(endian) == elf::SHT_GROUP) {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    let table = header.e_shoff(endian) as usize;
    let entry = header.e_shentsize(endian) as usize;
    let mut out = bytes.to_vec();
    for (index, section) in sections.iter().enumerate() {
        // A section header: sh_name (4 bytes), sh_type (4), sh_flags (8), ...
        let at = table + index * entry;
        match section.sh_type(endian) {
            elf::SHT_GROUP => {
                out[at + 4..at + 8].copy_from_slice(&endian_u32(endian, elf::SHT_PROGBITS));
            }
            elf::SHT_REL | elf::SHT_RELA if section.sh_info(endian) != 0 => {
                let flags = section.sh_flags(endian) | u64::from(elf::SHF_INFO_LINK);
                out[at + 8..at + 16].copy_from_slice(&match endian {
                    object::Endianness::Little => flags.to_le_bytes(),
                    object::Endianness::Big => flags.to_be_bytes(),
                });
            }
            _ => {}
        }
    }
    Ok(std::borrow::Cow::Owned(out))
}

fn endian_u32(endian: object::Endianness, value: u32) -> [u8; 4] {
    match endian {
        object::Endianness::Little => value.to_le_bytes(),
        object::Endianness::Big => value.to_be_bytes(),
    }
}

pub fn is_rust_name(name: &[u8]) -> bool {
    name.starts_with(b"_ZN") || name.starts_with(b"_R")
}

/// A static that can change at run time lives in a writable section; one
/// without interior mutability is read-only (`.rodata`, or `.data.rel.ro` when
/// it holds pointers, writable only until relocated) and a second copy of it
/// is harmless.
pub fn is_writable_data(section_name: &[u8], sh_flags: u64) -> bool {
    !section_name.starts_with(b".data.rel.ro")
        && sh_flags & u64::from(elf::SHF_WRITE) != 0
        && sh_flags & u64::from(elf::SHF_TLS) == 0
        && sh_flags & u64::from(elf::SHF_EXECINSTR) == 0
}

/// FNV-1a, stable across runs (it only has to tell equal bytes from changed ones).
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

pub fn hash_zeros(len: u64) -> u64 {
    (0..len).fold(0xcbf29ce484222325u64, |h, _| h.wrapping_mul(0x100000001b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_key_drops_only_a_legacy_hash() {
        assert_eq!(path_key("_ZN3app4HITS17h0123456789abcdefE"), "_ZN3app4HITS");
        assert_eq!(
            path_key("_ZN3app4HITS17hnothexnothexnotE"),
            "_ZN3app4HITS17hnothexnothexnotE"
        );
        assert_eq!(path_key("_RNvCs123_3app4HITS"), "_RNvCs123_3app4HITS");
        assert_eq!(path_key("anon.1"), "anon.1");
    }

    #[test]
    fn only_statics_that_can_change_are_candidates() {
        let w = u64::from(elf::SHF_WRITE | elf::SHF_ALLOC);
        assert!(is_writable_data(b".bss._ZN3app4HITS", w));
        assert!(is_writable_data(b".data._ZN3app4HITS", w));
        assert!(!is_writable_data(b".data.rel.ro._ZN3app3REF", w));
        assert!(!is_writable_data(
            b".rodata._ZN3app5TABLE",
            u64::from(elf::SHF_ALLOC)
        ));
        assert!(!is_writable_data(
            b".tbss._ZN3app2TL",
            w | u64::from(elf::SHF_TLS)
        ));
    }
}
