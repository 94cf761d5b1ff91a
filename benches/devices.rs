//! Device codec throughput: what the bridge spends per monitor frame.
//!
//! Run: `cargo bench --bench devices` (needs ../shared/data or MIMAMORI_SHARED_DATA). Input:
//! CTU-UHB record 1001 (80 min) as the monitors would send it: 4,800 Series 50 `C` frames,
//! 4,800 Avalon poll replies, 4,800 HL7 ORU^R01 messages with 4 Hz arrays. Figures and the
//! machine are in BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ctg_devices::avalon::apdu::{Apdu, Observation};
use ctg_devices::avalon::{self, AvalonHost};
use ctg_devices::hl7::{MllpDecoder, OruReceiver, build_oru, mllp};
use ctg_devices::series50::{Block, CtgBlock, Series50Host, frame};
use ctg_devices::{DeviceOutput, HostSession};
use ctg_proto::model::{BlockFlags, Channel, Sample};

fn seconds() -> (Vec<[Sample; 4]>, ctg_proto::model::Modes) {
    let dir = ctg_formats::shared_data_dir().unwrap_or_else(|e| panic!("{e}"));
    let rec = ctg_formats::read_recording(&dir.join("ctu-uhb/wfdb/1001.hea")).expect("1001");
    let seconds = rec
        .samples
        .chunks_exact(4)
        .map(|c| [c[0], c[1], c[2], c[3]])
        .collect();
    (seconds, rec.modes)
}

/// The CTG blocks in a session's output, checked to be one per second sent.
fn blocks_made(out: &[DeviceOutput], seconds: usize) -> usize {
    let blocks = out
        .iter()
        .filter(|o| matches!(o, DeviceOutput::Ctg(_)))
        .count();
    assert_eq!(blocks, seconds);
    blocks
}

fn series50(c: &mut Criterion) {
    let (seconds, modes) = seconds();
    let blocks: Vec<CtgBlock> = seconds
        .iter()
        .map(|s| CtgBlock::from_samples(s, &modes, BlockFlags(0), None))
        .collect();
    let mut wire = Vec::new();
    for b in &blocks {
        wire.extend(frame(&Block::Ctg(*b).encode()));
    }
    let mut group = c.benchmark_group("series50");
    group.throughput(Throughput::Elements(blocks.len() as u64));
    group.bench_function("encode C frames", |b| {
        let mut out = Vec::with_capacity(wire.len());
        b.iter(|| {
            out.clear();
            for block in &blocks {
                ctg_devices::series50::encode_frame(
                    &Block::Ctg(*black_box(block)).encode(),
                    &mut out,
                );
            }
            black_box(out.len())
        })
    });
    group.bench_function("host session: decode and normalise C frames", |b| {
        let mut out = Vec::with_capacity(blocks.len());
        b.iter(|| {
            let mut host = Series50Host::new();
            out.clear();
            HostSession::receive(&mut host, black_box(&wire), 0, &mut out);
            assert_eq!(out.len(), blocks.len());
            black_box(out.len())
        })
    });
    group.finish();
}

fn avalon_replies(c: &mut Criterion) {
    let (seconds, _) = seconds();
    let mut wire = Vec::new();
    for (i, s) in seconds.iter().enumerate() {
        let numeric = |handle, physio_id, channel: Channel| Observation {
            handle,
            physio_id,
            state: 0,
            unit: avalon::UNIT_BPM,
            value: s[0].physical(channel),
            label: None,
        };
        let reply = Apdu::PollReply {
            invoke_id: i as u16,
            poll_number: i as u16,
            relative_time: 0,
            observations: vec![
                numeric(1, avalon::PHYSIO_FHR_US, Channel::Fhr1),
                numeric(2, avalon::PHYSIO_TOCO, Channel::Ua),
                numeric(3, avalon::PHYSIO_MECG_HR, Channel::Mhr),
            ],
        };
        avalon::frame::encode_frame(&reply.encode(), &mut wire);
    }
    // A host session must be associated to take replies: run the handshake first.
    let mut group = c.benchmark_group("avalon");
    group.throughput(Throughput::Elements(seconds.len() as u64));
    group.bench_function("host session: decode poll replies", |b| {
        let mut out = Vec::with_capacity(seconds.len() + 4);
        b.iter(|| {
            let mut host = AvalonHost::new();
            let mut monitor = avalon::AvalonMonitor::new();
            monitor.receive(&host.poll_transmit(0), 0);
            out.clear();
            host.receive(&monitor.take_output(), 0, &mut out);
            host.receive(black_box(&wire), 1, &mut out);
            black_box(blocks_made(&out, seconds.len()))
        })
    });
    group.finish();
}

fn hl7(c: &mut Criterion) {
    let (seconds, _) = seconds();
    let mut wire = Vec::new();
    for (i, s) in seconds.iter().enumerate() {
        wire.extend(mllp::frame(&build_oru(
            s,
            &format!("M{i}"),
            1_768_469_400_000,
        )));
    }
    let mut group = c.benchmark_group("hl7");
    group.throughput(Throughput::Elements(seconds.len() as u64));
    group.bench_function("MLLP deframe, parse ORU^R01, map, build ACK", |b| {
        b.iter(|| {
            let mut decoder = MllpDecoder::new();
            let mut receiver = OruReceiver::new("BENCH");
            let mut frames = Vec::new();
            decoder.push(black_box(&wire), &mut frames);
            let mut accepted = 0;
            for f in frames.into_iter().flatten() {
                accepted += usize::from(receiver.handle(&f, 0).block.is_some());
            }
            assert_eq!(accepted, seconds.len());
            black_box(accepted)
        })
    });
    group.finish();
}

fn corometrics115(c: &mut Criterion) {
    use ctg_devices::corometrics115::{Corometrics115Host, Corometrics115Monitor};
    let (seconds, _) = seconds();
    let mut monitor = Corometrics115Monitor::new();
    let wire: Vec<u8> = seconds
        .iter()
        .flat_map(|s| monitor.second(s, true))
        .collect();
    let mut group = c.benchmark_group("corometrics115");
    group.throughput(Throughput::Elements(seconds.len() as u64));
    group.bench_function("host session: records to grid samples", |b| {
        let mut out = Vec::with_capacity(seconds.len() + 4);
        b.iter(|| {
            let mut host = Corometrics115Host::new();
            out.clear();
            host.receive(black_box(&wire), 0, &mut out);
            host.tick(u64::MAX, &mut out);
            black_box(blocks_made(&out, seconds.len()))
        })
    });
    group.finish();
}

criterion_group!(benches, series50, avalon_replies, hl7, corometrics115);
criterion_main!(benches);
