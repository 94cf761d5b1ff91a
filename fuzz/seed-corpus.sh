#!/usr/bin/env bash
# Seeds the fuzz corpora from the checked-in golden vectors and from small real recordings.
# Usage: fuzz/seed-corpus.sh   (from anywhere; writes fuzz/corpus/<target>/)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python3 - "$here" <<'PY'
import os, sys
here = sys.argv[1]
golden = os.path.join(here, "..", "proto", "tests", "golden", "messages.hex")
frames = []
for line in open(golden):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    name, hexed = line.split(" ", 1)
    frames.append((name, bytes.fromhex(hexed)))
def put(target, name, data):
    d = os.path.join(here, "corpus", target)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, name), "wb").write(data)
for name, frame in frames:
    put("frame_stream", name, bytes([7]) + frame)
    put("message_body", name, frame[4:])
put("frame_stream", "all", bytes([13]) + b"".join(f for _, f in frames))
put("compact_samples", "empty", bytes([0]))
put("recording_files", "fhr", bytes(4) + bytes([0x31, 2, 0, 0, 20, 1]) * 8)
put("recording_files", "wfdb", b"r 2 4 2\nr.dat 16 100(0)/bpm 12 0 14000 28000 0 FHR\nr.dat 16 100/nd 12 0 700 1400 0 UC\n\x00" + bytes([0xb0, 0x36, 0xbc, 0x02]) * 2)
# The other storage formats (212: two 12-bit samples in three bytes; 80: 8-bit offset binary).
put("recording_files", "wfdb212", b"r 2 4 3\nr.dat 212 4/bpm 12 0 560 1692 0 FHR\nr.dat 212 2/nd 12 0 20 66 0 UC\n\x00" + bytes([0x30, 0x02, 0x14, 0x34, 0x02, 0x16, 0x38, 0x02, 0x18]))
put("recording_files", "wfdb80", b"r 2 4 2\nr.dat 80 1(-140)/bpm 8 0 0 2 0 FHR\nr.dat 80 1(-60)/nd 8 0 -28 -54 0 UC\n\x00" + bytes([128, 100, 130, 102]))
# Series 50: the implementation notes' example C frame, an I block, a marker (protocols.md §1.6).
c_frame = bytes.fromhex("100243800042314232423342340000000000000000214021402141214114161" "81a2080080010037d57")
put("series50_stream", "c_blocks", bytes([9]) + c_frame * 3 + bytes.fromhex("10024d4d100365f1"))
# HL7: the notes' ORU^R01 example (protocols.md §5.3), MLLP-framed.
oru = "\r".join([
    "MSH|^~\\&|CTGBRIDGE|LDR-WARD|CTGHUB|HOSP|20260115103000+0100||ORU^R01^ORU_R01|BR3-000123|P|2.6",
    "OBX|1|NM|55283-6^Fetal heart rate^LN|1.0.1.1|141|/min^/min^UCUM|||||R",
    "OBX|2|CWE|FHRSQ^FHR1 signal quality^L|1.0.1.2|G^green^L||||||R",
    "OBX|3|NA|FHR1-4HZ^FHR1 trace 4 Hz^L|1.0.1.3|140.25^140.5^140.75^141|/min^/min^UCUM|||||R",
    "OBX|4|NA|TOCO-4HZ^Toco trace 4 Hz^L|1.0.2.2|10^11^12^13|{rel}^relative units^UCUM|||||R",
]).encode()
put("hl7_mllp", "oru", bytes([16]) + b"\x0b" + oru + b"\x1c\x0d")
# Avalon: the notes' example frame (protocols.md §2.1) and an association response.
put("avalon_stream", "frames", bytes([11]) + bytes.fromhex("c011010004 7de0 01 7d5d 02 dae9 c1".replace(" ", "")))
# Corometrics 115: the manuals' two example records (protocols.md §3.2) and a second's worth.
second = b"".join([b"9`0140\x03", b"9e0152\x03", b"9f00\x03", b"9a010\x03", b"9a011\x03"] * 4)
put("corometrics115_stream", "records", bytes([5]) + bytes.fromhex("39603031343003" "39613031323803") + b"9b000\x03" + second + b"9d0\x03" + b"9c0Epidural\x03")
print("seeded", len(frames), "golden frames")
PY
