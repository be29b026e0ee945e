//! Which of a patch's functions the running program can reach, read from the
//! objects the patch is linked from: whether a call the base cannot serve
//! (a trap in the patch, see `patch::resolve`) would ever run.
//!
//! The program enters a patch only through its jump table (the functions the
//! base has too, by name). From there code reaches other code by calling it,
//! by taking its address (a function pointer) or through data that holds
//! addresses (a vtable), and each of these is a relocation in the object that
//! names its target symbol: an edge, whatever shape the optimiser gave the
//! code. What is not reached is dead code of the recompiled crates: the patch
//! keeps every function of them (`--no-gc-sections`), the base dropped those
//! nothing called, so their calls of what the base lacks never run.

use std::collections::{BTreeSet, HashMap, HashSet};

use wasmparser::{
    KnownCustom, Linking, Parser, Payload, RelocationType, SymbolFlags, SymbolInfo, TypeRef,
};

use crate::Error;

/// A function or a data segment of one of the objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Node {
    Func { object: usize, index: u32 },
    Segment { object: usize, index: u32 },
}

/// Where a relocation leads.
#[derive(Debug, Clone)]
enum Target {
    Here(Node),
    /// A symbol the object does not define: another object's, or else an
    /// import of the patch, named `import` (a function's import name may
    /// differ from its symbol's: wasm-bindgen's JS bindings).
    Named {
        symbol: String,
        import: String,
    },
}

#[derive(Default)]
struct Graph {
    edges: HashMap<Node, Vec<Target>>,
    /// Non-local definitions, by name: where a `Named` target leads.
    defined: HashMap<String, Node>,
    /// Each defined function's name.
    names: HashMap<Node, String>,
}

/// The names among `traps` (import names, or names of functions the objects
/// define) that code reachable from `entries` (names of functions the
/// objects define) calls or refers to, in name order.
pub fn reached(
    objects: &[&[u8]],
    entries: &HashSet<&str>,
    traps: &HashSet<&str>,
) -> Result<Vec<String>, Error> {
    let mut graph = Graph::default();
    for (object, bytes) in objects.iter().enumerate() {
        read_object(&mut graph, object, bytes)?;
    }
    let mut queue: Vec<Node> = graph
        .names
        .iter()
        .filter(|(_, name)| entries.contains(name.as_str()))
        .map(|(node, _)| *node)
        .collect();
    let mut seen: HashSet<Node> = queue.iter().copied().collect();
    let mut hits = BTreeSet::new();
    while let Some(node) = queue.pop() {
        if let Some(name) = graph.names.get(&node) {
            if traps.contains(name.as_str()) {
                hits.insert(name.clone());
            }
        }
        for target in graph.edges.get(&node).into_iter().flatten() {
            let next = match target {
                Target::Here(next) => Some(*next),
                Target::Named { symbol, import } => {
                    let defined = graph.defined.get(symbol).copied();
                    if defined.is_none() && traps.contains(import.as_str()) {
                        hits.insert(import.clone());
                    }
                    defined
                }
            };
            if let Some(next) = next.filter(|n| seen.insert(*n)) {
                queue.push(next);
            }
        }
    }
    Ok(hits.into_iter().collect())
}

fn read_object(graph: &mut Graph, object: usize, bytes: &[u8]) -> Result<(), Error> {
    let mut func_imports: Vec<&str> = Vec::new();
    // Where each function body and each data segment's bytes start and end,
    // counted from their section's payload (as relocation offsets are).
    let mut bodies: Vec<(usize, usize)> = Vec::new();
    let mut code_start = 0;
    let mut segments: Vec<(usize, usize)> = Vec::new();
    let (mut code, mut data) = (None, None);
    let mut symbols = Vec::new();
    let mut relocs = Vec::new();
    let mut section = 0u32;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload?;
        let this = section;
        if payload.as_section().is_some() {
            section += 1;
        }
        match payload {
            Payload::ImportSection(reader) => {
                for import in reader.into_imports() {
                    let import = import?;
                    if matches!(import.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)) {
                        func_imports.push(import.name);
                    }
                }
            }
            Payload::CodeSectionStart { range, .. } => {
                code = Some(this);
                code_start = range.start;
            }
            Payload::CodeSectionEntry(body) => {
                let range = body.range();
                bodies.push((range.start - code_start, range.end - code_start));
            }
            Payload::DataSection(reader) => {
                data = Some(this);
                let start = reader.range().start;
                for segment in reader {
                    let segment = segment?;
                    let end = segment.range.end - start;
                    segments.push((end - segment.data.len(), end));
                }
            }
            Payload::CustomSection(custom) => match custom.as_known() {
                KnownCustom::Linking(linking) => {
                    for sub in linking.subsections() {
                        if let Linking::SymbolTable(table) = sub? {
                            for symbol in table {
                                symbols.push(symbol?);
                            }
                        }
                    }
                }
                KnownCustom::Reloc(reloc) => {
                    let entries: Vec<_> = reloc.entries().into_iter().collect::<Result<_, _>>()?;
                    relocs.push((reloc.section_index(), entries));
                }
                _ => {}
            },
            _ => {}
        }
    }
    let imported = func_imports.len() as u32;
    let target = |symbol: &SymbolInfo<'_>| -> Option<Target> {
        match *symbol {
            SymbolInfo::Func { index, name, .. } if index < imported => {
                let import = func_imports[index as usize];
                Some(Target::Named {
                    symbol: name.unwrap_or(import).to_string(),
                    import: import.to_string(),
                })
            }
            SymbolInfo::Func { index, .. } => Some(Target::Here(Node::Func { object, index })),
            SymbolInfo::Data {
                symbol: Some(def), ..
            } => Some(Target::Here(Node::Segment {
                object,
                index: def.index,
            })),
            SymbolInfo::Data { name, .. } => Some(Target::Named {
                symbol: name.to_string(),
                import: name.to_string(),
            }),
            _ => None,
        }
    };
    for symbol in &symbols {
        let (name, flags, node) = match *symbol {
            SymbolInfo::Func {
                index,
                name: Some(name),
                flags,
            } if index >= imported => (name, flags, Node::Func { object, index }),
            SymbolInfo::Data {
                name,
                flags,
                symbol: Some(def),
            } => (
                name,
                flags,
                Node::Segment {
                    object,
                    index: def.index,
                },
            ),
            _ => continue,
        };
        if matches!(node, Node::Func { .. }) {
            graph.names.insert(node, name.to_string());
        }
        if !flags.contains(SymbolFlags::BINDING_LOCAL) {
            graph.defined.entry(name.to_string()).or_insert(node);
        }
    }
    for (applies_to, entries) in relocs {
        for entry in entries {
            // The one relocation whose index is a type, not a symbol.
            if entry.ty == RelocationType::TypeIndexLeb {
                continue;
            }
            let at = entry.offset as usize;
            let from = if Some(applies_to) == code {
                containing(&bodies, at).map(|i| Node::Func {
                    object,
                    index: imported + i as u32,
                })
            } else if Some(applies_to) == data {
                containing(&segments, at).map(|i| Node::Segment {
                    object,
                    index: i as u32,
                })
            } else {
                None // debug info
            };
            let to = symbols.get(entry.index as usize).and_then(&target);
            if let (Some(from), Some(to)) = (from, to) {
                graph.edges.entry(from).or_default().push(to);
            }
        }
    }
    Ok(())
}

/// The index of the range (sorted, disjoint) that holds `at`.
fn containing(ranges: &[(usize, usize)], at: usize) -> Option<usize> {
    let i = ranges
        .partition_point(|&(start, _)| start <= at)
        .checked_sub(1)?;
    (at < ranges[i].1).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rustc::{folder, pic_object};

    /// Real objects: an entry that calls a missing function through a
    /// helper, one that reaches another only through a vtable, one that
    /// calls a JS import (whose symbol rustc names apart from its import,
    /// as wasm-bindgen's are), and dead code that calls a fourth.
    #[test]
    fn only_what_an_entry_reaches_counts() {
        let source = "#![no_std]\n\
            extern \"C\" { fn missing_called(); fn missing_in_vtable(); fn missing_in_dead_code(); }\n\
            trait Go { fn go(&self); }\n\
            struct V;\n\
            impl Go for V { fn go(&self) { unsafe { missing_in_vtable() } } }\n\
            #[inline(never)] fn helper() { unsafe { missing_called() } }\n\
            #[no_mangle] pub extern \"C\" fn entry_direct() { helper() }\n\
            #[no_mangle] pub extern \"C\" fn entry_dyn() -> &'static dyn Go { &V }\n\
            #[link(wasm_import_module = \"js\")] extern \"C\" { fn missing_js(); }\n\
            #[no_mangle] pub extern \"C\" fn entry_js() { unsafe { missing_js() } }\n\
            #[no_mangle] pub extern \"C\" fn dead() { unsafe { missing_in_dead_code() } }\n\
            #[panic_handler] fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }\n";
        let dir = folder("reach");
        for opt in ["0", "1"] {
            let bytes = pic_object(&dir, &format!("reach{opt}"), source, opt);
            let traps: HashSet<&str> = [
                "missing_called",
                "missing_in_vtable",
                "missing_js",
                "missing_in_dead_code",
            ]
            .into_iter()
            .collect();
            let reach = |entries: &[&str]| {
                reached(&[&bytes], &entries.iter().copied().collect(), &traps).unwrap()
            };
            assert_eq!(reach(&["entry_direct"]), ["missing_called"], "-O{opt}");
            assert_eq!(reach(&["entry_dyn"]), ["missing_in_vtable"], "-O{opt}");
            assert_eq!(reach(&["entry_js"]), ["missing_js"], "-O{opt}");
            assert_eq!(reach(&[]), Vec::<String>::new(), "-O{opt}");
            assert_eq!(reach(&["dead"]), ["missing_in_dead_code"], "-O{opt}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
