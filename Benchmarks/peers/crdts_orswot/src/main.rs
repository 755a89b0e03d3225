//! crdts-orswot-bench: the set workload of `Benchmarks/ConcordBench` on the Rust `crdts`
//! crate's ORSWOT (an add-wins observed-remove set), natively, printing one JSON object in
//! the format `Benchmarks/run.py` reads.
//!
//!     crdts-orswot-bench --workload set --writes 100000 --keys 10000 --seed 42
//!
//! Same workload as Concord's, draw for draw: replica r in {0, 1} draws from the
//! xoshiro256** generator of `ConcordTesting.SeededGenerator` seeded with `seed * 2 + r`,
//! and each write draws "add with probability 0.7" then a key index, exactly as Swift's
//! `Double.random(in: 0..<1)` and `Int.random(in: 0..<keys)` do. `plan_digest` (FNV-1a over
//! both replicas' draws) and `members_digest` (FNV-1a over the sorted final members) are
//! printed so run.py can check that Concord and crdts ran the same operations to the same
//! members.
//!
//! * Elements are the strings "e{i}" (`Orswot<String, u64>`, actors 1 and 2).
//! * add: `set.add(member, set.read_ctx().derive_add_ctx(actor))`, applied, and kept.
//! * remove: `ctx = set.contains(&member)`; when present, `set.rm(member, ctx.derive_rm_ctx())`
//!   (the member's observed dots), applied and kept; removing an absent member is skipped,
//!   as Concord and the Python peers do.
//! * Local writes/s: replica A's writes over the seconds they took (draws made before).
//! * Exchange: each replica's operations, in order, as one bincode-encoded `Vec<Op>`;
//!   import = decode + apply every operation on the other replica (`CmRDT::apply`, which
//!   needs causal order per actor: each batch is one actor's operations in order).
//!   import_ms is the mean of the two imports, like Concord's.
//! * state_merge_ms: `CvRDT::merge` of B's whole state into a copy of A's (copies made
//!   outside the timing).

use std::collections::HashSet;
use std::time::Instant;

use crdts::orswot::{Op, Orswot};
use crdts::{CmRDT, CvRDT};

type Set = Orswot<String, u64>;
type SetOp = Op<String, u64>;

/// xoshiro256** seeded by splitmix64: `ConcordTesting.SeededGenerator`.
struct SeededGenerator {
    s: [u64; 4],
}

impl SeededGenerator {
    fn new(seed: u64) -> Self {
        let mut x = seed;
        let mut split_mix = || {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        SeededGenerator { s: [split_mix(), split_mix(), split_mix(), split_mix()] }
    }

    fn next(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Swift's `RandomNumberGenerator.next(upperBound:)` (Lemire's nearly divisionless method).
    fn next_below(&mut self, bound: u64) -> u64 {
        let mut m = (self.next() as u128) * (bound as u128);
        if (m as u64) < bound {
            let t = bound.wrapping_neg() % bound;
            while (m as u64) < t {
                m = (self.next() as u128) * (bound as u128);
            }
        }
        (m >> 64) as u64
    }

    /// Swift's `Double.random(in: 0..<1, using:)`: 53 random bits times 2^-53.
    fn unit(&mut self) -> f64 {
        let bits = self.next() & ((1u64 << 53) - 1);
        bits as f64 * (f64::EPSILON / 2.0)
    }
}

struct Options {
    writes: usize,
    keys: usize,
    seed: u64,
}

fn fail(message: &str) -> ! {
    eprintln!("crdts-orswot-bench: {message}");
    std::process::exit(2)
}

fn parse_args() -> Options {
    let mut options = Options { writes: 100_000, keys: 10_000, seed: 42 };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let flag = args[i].as_str();
        if flag == "--help" || flag == "-h" {
            println!("usage: crdts-orswot-bench --workload set [--writes N] [--keys K] [--seed S] [--batch B]");
            std::process::exit(0);
        }
        let value = args.get(i + 1).unwrap_or_else(|| fail(&format!("missing value for {flag}")));
        let number = || value.parse::<u64>().unwrap_or_else(|_| fail(&format!("{flag} takes a non-negative integer, got {value}")));
        match flag {
            "--workload" if value == "set" => {}
            "--workload" => fail("only the set workload exists here (the crdts ORSWOT is the anchor for sets)"),
            "--writes" => options.writes = number() as usize,
            "--keys" => options.keys = number() as usize,
            "--seed" => options.seed = number(),
            "--batch" => {} // native calls need no batching; accepted for parity with the other peers
            _ => fail(&format!("unknown argument {flag}; see --help")),
        }
        i += 2;
    }
    if options.writes == 0 || options.keys == 0 {
        fail("--writes and --keys must be positive");
    }
    options
}

/// One replica's writes, drawn before timing: (is add, key index).
fn draws(options: &Options, replica: u64) -> Vec<(bool, usize)> {
    let mut rng = SeededGenerator::new(options.seed.wrapping_mul(2).wrapping_add(replica));
    (0..options.writes)
        .map(|_| {
            let is_add = rng.unit() < 0.7;
            (is_add, rng.next_below(options.keys as u64) as usize)
        })
        .collect()
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash = (hash ^ byte as u64).wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// FNV-1a over both plans: per write one byte (1 = add) and the key index as 8 bytes
/// little-endian. Benchmarks/ConcordBench computes the same.
fn plan_digest(plans: &[&[(bool, usize)]]) -> u64 {
    let mut hash = FNV_OFFSET;
    for plan in plans {
        for &(is_add, key) in plan.iter() {
            hash = fnv1a(hash, &[is_add as u8]);
            hash = fnv1a(hash, &(key as u64).to_le_bytes());
        }
    }
    hash
}

/// FNV-1a over the members sorted by UTF-8 bytes, each followed by a zero byte.
fn members_digest(members: &HashSet<String>) -> u64 {
    let mut sorted: Vec<&String> = members.iter().collect();
    sorted.sort();
    sorted.iter().fold(FNV_OFFSET, |hash, member| fnv1a(fnv1a(hash, member.as_bytes()), &[0]))
}

/// Applies one replica's writes locally; returns the operations made.
fn write_locally(set: &mut Set, actor: u64, plan: &[(bool, usize)], names: &[String]) -> Vec<SetOp> {
    let mut ops = Vec::with_capacity(plan.len());
    for &(is_add, key) in plan {
        let member = &names[key];
        if is_add {
            let op = set.add(member.clone(), set.read_ctx().derive_add_ctx(actor));
            set.apply(op.clone());
            ops.push(op);
        } else {
            let read = set.contains(member);
            if read.val {
                let op = set.rm(member.clone(), read.derive_rm_ctx());
                set.apply(op.clone());
                ops.push(op);
            }
        }
    }
    ops
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

fn ms(seconds: f64) -> f64 {
    (seconds * 1e6).round() / 1e3
}

fn main() {
    let options = parse_args();
    let names: Vec<String> = (0..options.keys).map(|i| format!("e{i}")).collect();
    let (plan_a, plan_b) = (draws(&options, 0), draws(&options, 1));
    let plan = plan_digest(&[&plan_a, &plan_b]);
    let (mut a, mut b) = (Set::new(), Set::new());

    let start = Instant::now();
    let ops_a = write_locally(&mut a, 1, &plan_a, &names);
    let local_seconds = start.elapsed().as_secs_f64();
    let ops_b = write_locally(&mut b, 2, &plan_b, &names);
    drop((plan_a, plan_b));

    // State-based merge, on copies, before the op exchange.
    let (mut state_copy, their_state) = (a.clone(), b.clone());
    let t0 = Instant::now();
    state_copy.merge(their_state);
    let state_merge_seconds = t0.elapsed().as_secs_f64();

    // Export: every operation each replica made, in order, as one update.
    let t1 = Instant::now();
    let bytes_a = bincode::serialize(&ops_a).expect("encode A's operations");
    let bytes_b = bincode::serialize(&ops_b).expect("encode B's operations");
    let export_seconds = t1.elapsed().as_secs_f64();
    let ops_exchanged = ops_a.len();
    drop((ops_a, ops_b));

    // Import A -> B: decode, then apply each operation.
    let t2 = Instant::now();
    let decoded_a: Vec<SetOp> = bincode::deserialize(&bytes_a).expect("decode A's operations");
    let t3 = Instant::now();
    for op in decoded_a {
        b.apply(op);
    }
    let t4 = Instant::now();
    // Import B -> A.
    let decoded_b: Vec<SetOp> = bincode::deserialize(&bytes_b).expect("decode B's operations");
    for op in decoded_b {
        a.apply(op);
    }
    let t5 = Instant::now();

    let import_ab = (t4 - t2).as_secs_f64();
    let import_ba = (t5 - t4).as_secs_f64();
    let members_a = a.read().val;
    let converged = members_a == b.read().val && members_a == state_copy.read().val;
    println!(
        "{{\"system\": \"crdts\", \"version\": \"{version}\", \"workload\": \"set\", \"writes\": {writes}, \
         \"keys\": {keys}, \"seed\": {seed}, \"local_writes_per_s\": {rate}, \"import_ms\": {import}, \
         \"merge_ms\": {merge}, \"update_bytes\": {bytes}, \"converged\": {converged}, \
         \"peak_rss_mb\": {rss}, \"decode_ms\": {decode}, \"apply_ms\": {apply}, \
         \"state_merge_ms\": {state_merge}, \"ops_exchanged\": {ops_exchanged}, \"members\": {members}, \
         \"plan_digest\": \"{plan:016x}\", \"members_digest\": \"{members_digest:016x}\", \
         \"note\": \"Rust crdts {version} Orswot<String, u64>, native (no bindings): add/rm ops through read_ctx/contains \
         contexts, bincode-encoded op lists, CmRDT::apply on import; same draws as Concord (plan_digest)\"}}",
        version = CRDTS_VERSION,
        writes = options.writes,
        keys = options.keys,
        seed = options.seed,
        rate = options.writes as f64 / local_seconds,
        import = ms((import_ab + import_ba) / 2.0),
        merge = ms(export_seconds + import_ab + import_ba),
        bytes = bytes_a.len(),
        rss = peak_rss_mb(),
        decode = ms((t3 - t2).as_secs_f64()),
        apply = ms((t4 - t3).as_secs_f64()),
        state_merge = ms(state_merge_seconds),
        members = members_a.len(),
        members_digest = members_digest(&members_a),
    );
}

/// The crdts version this was built against (build.rs reads it from Cargo.lock).
const CRDTS_VERSION: &str = env!("CRDTS_VERSION");
