//! Codec throughput: bridge⇄hub frames, the compact sample encoding, and the WFDB reader.
//!
//! Run: `cargo bench --bench codecs` (needs ../shared/data or MIMAMORI_SHARED_DATA).
//! Figures and the machine are in BENCHMARKS.md.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ctg_formats::compact::{decode_samples, encode_samples};
use ctg_formats::{Recording, read_recording, wfdb};
use ctg_proto::wire::{Message, StreamHandle};
use ctg_proto::{FrameDecoder, encode_frame};

fn shared_data() -> PathBuf {
    ctg_formats::shared_data_dir().unwrap_or_else(|e| panic!("{e}"))
}

fn recording() -> Recording {
    read_recording(&shared_data().join("ctu-uhb/wfdb/1001.hea")).expect("record 1001 reads")
}

fn wire(c: &mut Criterion) {
    let rec = recording();
    let messages: Vec<Message> = rec
        .blocks(4, 0)
        .map(|block| Message::Samples {
            stream: StreamHandle(1),
            block,
        })
        .collect();
    let mut stream = Vec::new();
    for m in &messages {
        stream.extend(encode_frame(m).unwrap());
    }
    let mut group = c.benchmark_group("wire");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("encode 1-s sample frames", |b| {
        let mut out = Vec::with_capacity(stream.len());
        b.iter(|| {
            out.clear();
            for m in &messages {
                ctg_proto::frame::encode_frame_into(black_box(m), &mut out).unwrap();
            }
            black_box(out.len())
        })
    });
    group.bench_function("decode 1-s sample frames", |b| {
        b.iter(|| {
            let mut decoder = FrameDecoder::new();
            let mut input = black_box(&stream[..]);
            let mut n = 0;
            while let Some(m) = decoder.next_message(&mut input) {
                m.unwrap();
                n += 1;
            }
            n
        })
    });
    group.finish();
}

fn compact(c: &mut Criterion) {
    let rec = recording();
    let mut encoded = Vec::new();
    encode_samples(&rec.samples, &mut encoded);
    let mut group = c.benchmark_group("compact");
    group.throughput(Throughput::Elements(rec.samples.len() as u64));
    group.bench_function("encode samples", |b| {
        let mut out = Vec::with_capacity(encoded.len());
        b.iter(|| {
            out.clear();
            encode_samples(black_box(&rec.samples), &mut out);
            out.len()
        })
    });
    group.bench_function("decode samples", |b| {
        b.iter(|| decode_samples(black_box(&encoded), rec.samples.len()).unwrap())
    });
    group.finish();
}

fn wfdb_reader(c: &mut Criterion) {
    let dir = shared_data().join("ctu-uhb/wfdb");
    let text = std::fs::read_to_string(dir.join("1001.hea")).unwrap();
    let dat = std::fs::read(dir.join("1001.dat")).unwrap();
    let mut group = c.benchmark_group("wfdb");
    group.throughput(Throughput::Elements((dat.len() / 4) as u64));
    group.bench_function("parse and verify a record", |b| {
        b.iter(|| {
            let header = wfdb::parse_header(black_box(&text)).unwrap();
            wfdb::parse(&header, black_box(&dat), "1001").unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, wire, compact, wfdb_reader);
criterion_main!(benches);
