//! What the running program has: its statics and thread-locals (from the
//! base executable dx fat-linked, which stays unstripped for dx's own use),
//! and where the running process mapped it (from dx's `stub.o`).

use std::collections::{HashMap, HashSet};
use std::path::Path;

use object::{Object, ObjectSection, ObjectSymbol, SectionFlags, SectionKind, SymbolSection};

use crate::elf::{hash, hash_zeros, is_writable_data, path_key, BaseStatic};

#[derive(Debug, Default)]
pub struct Base {
    /// The wanted statics the base has, by name.
    pub statics: HashMap<String, BaseStatic>,
    /// Every thread-local the base defines: its offset from the thread
    /// pointer in the running program (x86-64: negative), and its size.
    pub thread_locals: HashMap<String, (i64, u64)>,
    /// The base's statics at the wanted statics' paths (`elf::path_key`), by
    /// path, each with whether it is writable: a static at the same path under
    /// another name changed type.
    pub paths: HashMap<String, Vec<(String, bool)>>,
    /// Running address minus file address, from the first stub symbol found.
    pub slide: Option<i64>,
}

/// Reads the base's symbol table once, keeping the statics named in `wanted`
/// and computing the slide from any symbol of `stub` (name -> running address).
pub fn read(
    exe: &Path,
    wanted: &HashSet<String>,
    stub: &HashMap<String, u64>,
) -> Result<Base, String> {
    let file = std::fs::File::open(exe)
        .map_err(|e| format!("cannot open the running program {}: {e}", exe.display()))?;
    // SAFETY: dx does not rewrite the base while it links a patch; a torn read
    // would only make this link fail.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|e| format!("cannot map {}: {e}", exe.display()))?;
    let object = object::read::elf::ElfFile64::<object::Endianness>::parse(&*map)
        .map_err(|e| format!("cannot read {}: {e}", exe.display()))?;
    let tls_end = tls_block_end(&object);
    let wanted_paths: HashSet<&str> = wanted.iter().map(|n| path_key(n)).collect();
    let mut base = Base::default();
    // Every symbol dx's stub and the base share gives the slide; a name that
    // stands for two things in the base gives a wrong one for one of them, so
    // the slide most symbols agree on wins.
    let mut slides: HashMap<i64, usize> = HashMap::new();
    let mut votes = 0;
    for symbol in object.symbols() {
        if symbol.is_undefined() {
            continue;
        }
        // Most symbols are code, which matters only for the slide: once
        // enough of them have voted, they are passed over without even
        // reading their names (this loop reads the whole program's table).
        let kind = symbol.kind();
        let code = kind == object::SymbolKind::Text;
        if code && votes >= SLIDE_VOTES {
            continue;
        }
        let Ok(name) = symbol.name() else {
            continue;
        };
        if let Some(&running) = stub.get(name) {
            *slides
                .entry(running as i64 - symbol.address() as i64)
                .or_default() += 1;
            votes += 1;
        }
        if code {
            continue;
        }
        if kind == object::SymbolKind::Tls {
            if let Some(end) = tls_end {
                let tpoff = symbol.address() as i64 - end as i64;
                base.thread_locals
                    .insert(name.to_string(), (tpoff, symbol.size()));
            }
            continue;
        }
        // Most of the base's symbols are none of the patch's business: tell
        // them by name before looking at their sections (this loop reads
        // every symbol of the program at every patch).
        let path = path_key(name);
        let at_wanted_path = path.len() != name.len() && wanted_paths.contains(path);
        if !at_wanted_path && !wanted.contains(name) {
            continue;
        }
        let SymbolSection::Section(index) = symbol.section() else {
            continue;
        };
        let Ok(section) = object.section_by_index(index) else {
            continue;
        };
        let writable = matches!(section.flags(), SectionFlags::Elf { sh_flags }
            if is_writable_data(section.name_bytes().unwrap_or_default(), sh_flags));
        if at_wanted_path && symbol.kind() == object::SymbolKind::Data {
            base.paths
                .entry(path.to_string())
                .or_default()
                .push((name.to_string(), writable));
        }
        if !wanted.contains(name) {
            continue;
        }
        let init_hash = if section.kind() == SectionKind::UninitializedData {
            hash_zeros(symbol.size())
        } else {
            match section.data_range(symbol.address(), symbol.size()) {
                Ok(Some(bytes)) => hash(bytes),
                _ => 0,
            }
        };
        base.statics.insert(
            name.to_string(),
            BaseStatic {
                address: symbol.address(),
                size: symbol.size(),
                init_hash,
                writable,
            },
        );
    }
    let votes: usize = slides.values().sum();
    base.slide = match slides.into_iter().max_by_key(|(_, count)| *count) {
        // A mapping slides by whole pages; a majority that does not is no slide.
        Some((slide, count)) if slide % 4096 == 0 && count * 2 > votes => Some(slide),
        // Every symbol off by the same odd amount: dx computed the stub from
        // another process's address of `main`, the app it replaced (it
        // registers the restarted app late, see hotswap_runtime's `Nudge`).
        Some((_, count)) if count == votes => {
            return Err(
                "dx linked this patch against the app it replaced, not the running one (it had not registered the restarted app yet)"
                    .to_string(),
            )
        }
        Some((slide, count)) => {
            return Err(format!(
                "dx's stub and {} do not agree on where the running program is mapped \
                 (the likeliest offset, {slide:#x}, has {count} of {votes} symbols)",
                exe.display()
            ))
        }
        None => None,
    };
    Ok(base)
}

/// How many symbols shared with dx's stub must agree on the slide before the
/// rest of the base's code symbols are skipped.
const SLIDE_VOTES: usize = 64;

/// Where the executable's thread-locals end, relative to the thread pointer
/// (x86-64 keeps the executable's TLS block right below it): the block's size
/// rounded up to its alignment, the way glibc places it (`_dl_determine_tlsoffset`,
/// with the segment's misalignment `firstbyte`) and the linker resolves
/// local-exec accesses. A thread-local's offset is its `st_value` minus this.
fn tls_block_end(object: &object::read::elf::ElfFile64<'_, object::Endianness>) -> Option<u64> {
    use object::read::elf::ProgramHeader;
    let endian = object.endian();
    let tls = object
        .elf_program_headers()
        .iter()
        .find(|h| h.p_type(endian) == object::elf::PT_TLS)?;
    let align = tls.p_align(endian).max(1);
    let firstbyte = (align - (tls.p_vaddr(endian) & (align - 1))) & (align - 1);
    let size = tls.p_memsz(endian);
    Some((size - firstbyte).div_ceil(align) * align + firstbyte)
}

/// The running addresses dx's stub gives the symbols the patch leaves
/// undefined: absolute data symbols carry them as their value, code symbols
/// are `jmp [rip+0]` followed by the 8-byte target.
pub fn stub_addresses(stub: &[u8]) -> Result<HashMap<String, u64>, String> {
    let object =
        object::File::parse(stub).map_err(|e| format!("cannot read dx's stub object: {e}"))?;
    let mut out = HashMap::new();
    for symbol in object.symbols() {
        let Ok(name) = symbol.name() else {
            continue;
        };
        match symbol.section() {
            SymbolSection::Absolute => {
                out.insert(name.to_string(), symbol.address());
            }
            SymbolSection::Section(index) => {
                let Ok(section) = object.section_by_index(index) else {
                    continue;
                };
                if section.kind() != SectionKind::Text {
                    continue;
                }
                let Ok(data) = section.data() else {
                    continue;
                };
                let at = (symbol.address() - section.address()) as usize;
                if data.get(at..at + 6) == Some(&[0xff, 0x25, 0, 0, 0, 0]) {
                    if let Some(target) = data.get(at + 6..at + 14) {
                        out.insert(
                            name.to_string(),
                            u64::from_le_bytes(target.try_into().unwrap()),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}
