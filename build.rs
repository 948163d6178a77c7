//! Writes the median networks of `src/median_regs.rs` as straight-line code.
//!
//! For each stack depth `n` in `3..=REGISTER_MAX_N` it emits one function applying, in order,
//! the comparators of `src/network.rs` that put the two middle ranks of `n` values in place.
//! With every index a constant, the compiler keeps the `n` rows of a 16-pixel group in vector
//! registers for the whole network.

#[allow(dead_code)]
#[path = "src/network.rs"]
mod network;

use std::fmt::Write as _;
use std::path::PathBuf;

/// Deepest stack whose median network is generated (AVX-512 has 32 vector registers; deeper
/// stacks use the tile network).
const REGISTER_MAX_N: usize = 25;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/network.rs");
    let mut code = String::new();
    for n in 3..=REGISTER_MAX_N {
        let pairs = network::pruned(&network::pairs(n), n, &[(n - 1) / 2, n / 2]);
        writeln!(
            code,
            "struct Middle{n};\n\nimpl Network<{n}> for Middle{n} {{"
        )
        .unwrap();
        writeln!(code, "    #[inline(always)]").unwrap();
        // One statement per comparator: the length is the network's size, not a design choice.
        writeln!(
            code,
            "    #[allow(clippy::too_many_lines)] // generated straight-line network"
        )
        .unwrap();
        writeln!(code, "    fn apply<V: Vector>(v: &mut [V; {n}]) {{").unwrap();
        for (a, b) in pairs {
            writeln!(code, "        cx(v, {a}, {b});").unwrap();
        }
        writeln!(code, "    }}\n}}\n").unwrap();
    }
    writeln!(code, "/// Deepest stack handled in registers.").unwrap();
    writeln!(
        code,
        "pub const REGISTER_MAX_N: usize = {REGISTER_MAX_N};\n"
    )
    .unwrap();
    writeln!(
        code,
        "fn dispatch<V: Vector>(keys: &mut [V::Key], w: usize, n: usize) -> bool {{"
    )
    .unwrap();
    writeln!(code, "    match n {{").unwrap();
    for n in 3..=REGISTER_MAX_N {
        writeln!(
            code,
            "        {n} => simd::run_if_avx512(Groups::<V, {n}, Middle{n}> {{ keys, width: w, net: PhantomData }}),"
        )
        .unwrap();
    }
    writeln!(code, "        _ => None,\n    }}\n    .is_some()\n}}").unwrap();
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap()).join("median_networks.rs");
    std::fs::write(out, code).unwrap();
}
