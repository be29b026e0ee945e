fn main() {
    wasm_mt_hotswap_example::start();
}
