// The binding tests load patches built against `std` into the test process,
// as subsecond loads a patch into the app: the test binaries export their
// symbols so the patches' references to `std` resolve to the process's own.
fn main() {
    println!("cargo:rustc-link-arg-tests=-rdynamic");
}
