// The CRI client's protobuf encoder and decoder (test/integration/cri/pb.ts, proto.ts) and its
// gRPC framing, against bytes worked out by hand from the wire format: varints, proto3 defaults
// left out, nested messages, maps, unknown fields skipped, malformed input refused.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Message, ProtoError, varint, Writer } from '../integration/cri/pb.js';
import {
  decodeListPodSandboxResponse, decodePodSandboxStatusResponse, decodeRunPodSandboxResponse, decodeStatusResponse, decodeVersionResponse,
  listPodSandboxRequest, podSandboxStatusRequest, runPodSandboxRequest, sandboxIdRequest, statusRequest, versionRequest,
} from '../integration/cri/proto.js';
import { grpcFrame, grpcUnframe, netnsPathOf } from '../integration/cri/client.js';

/** Bytes from hex with spaces and `#` comments to the end of a line. */
function hex(text: string): Buffer {
  return Buffer.from(text.replace(/#[^\n]*/gu, '').replace(/\s+/gu, ''), 'hex');
}

const h = (b: Buffer) => b.toString('hex');

void describe('protobuf wire format', () => {
  void test('varints', () => {
    assert.equal(h(varint(0)), '00');
    assert.equal(h(varint(1)), '01');
    assert.equal(h(varint(127)), '7f');
    assert.equal(h(varint(128)), '8001');
    assert.equal(h(varint(300)), 'ac02');
    assert.equal(h(varint(2 ** 32)), '8080808010');
    assert.equal(h(varint(-1)), 'ffffffffffffffffff01', 'a negative number is its 64-bit two\'s complement: ten bytes');
    assert.equal(h(varint(1n << 63n)), '80808080808080808001');
    assert.throws(() => varint(1n << 64n), ProtoError);
  });

  void test('fields: tags, proto3 defaults left out, messages written even when empty', () => {
    assert.equal(h(new Writer().uint(1, 150).finish()), '089601');
    assert.equal(h(new Writer().string(2, 'testing').finish()), '120774657374696e67');
    assert.equal(h(new Writer().bool(3, true).finish()), '1801');
    assert.equal(h(new Writer().uint(1, 0).bool(2, false).string(3, '').string(4, undefined).int32(5, 0).finish()), '', 'defaults are not written');
    assert.equal(h(new Writer().message(4, new Writer()).finish()), '2200', 'an empty message is present');
    assert.equal(h(new Writer().int32(2, -2).finish()), '10feffffffffffffffff01', 'int32 -2 sign-extended');
    assert.equal(h(new Writer().uint(16, 1).finish()), '800101', 'field 16 needs a two-byte tag');
    assert.throws(() => new Writer().int32(1, 2 ** 31), ProtoError);
    assert.throws(() => new Writer().uint(0, 1), ProtoError);
  });

  void test('a map is one entry message per pair (key 1, value 2), in key order', () => {
    const b = new Writer().map(6, { b: '2', a: '1' }).finish();
    assert.equal(h(b), hex(`
      32 06 0a 01 61 12 01 31   # entry: key "a", value "1"
      32 06 0a 01 62 12 01 32   # entry: key "b", value "2"
    `).toString('hex'));
    assert.deepEqual(new Message(b).map(6), { a: '1', b: '2' });
  });

  void test('reading: defaults when absent, the last scalar wins, signed values, unknown fields skipped', () => {
    const m = new Message(hex(`
      08 96 01                        # 1: 150
      08 97 01                        # 1 again: 151 wins
      10 fe ff ff ff ff ff ff ff ff 01  # 2: -2 as int32 / int64
      7d 01 02 03 04                  # 15, fixed32: skipped
      71 01 02 03 04 05 06 07 08      # 14, fixed64: skipped
      6a 03 61 62 63                  # 13, bytes "abc": unknown here
      60 05                           # 12, varint: unknown here
      1a 02 68 69                     # 3: "hi"
    `));
    assert.equal(m.uint(1), 151);
    assert.equal(m.int32(2), -2);
    assert.equal(m.int64(2), -2n);
    assert.equal(m.string(3), 'hi');
    assert.equal(m.string(4), '', 'absent string');
    assert.equal(m.uint(5), 0, 'absent number');
    assert.equal(m.bool(6), false, 'absent bool');
    assert.equal(m.message(7), undefined, 'absent message');
    assert.deepEqual(m.map(8), {});
    assert.deepEqual(m.strings(13), ['abc']);
  });

  void test('malformed input is refused', () => {
    const bad: [string, string][] = [
      ['08', 'a tag without its varint'],
      ['08 80', 'a varint cut short'],
      ['0a 05 61 62', 'a string shorter than its length'],
      ['0a ff ff ff ff 0f', 'a length beyond the message'],
      ['0b', 'wire type 3 (groups)'],
      ['0f', 'wire type 7'],
      ['00 01', 'field number 0'],
      ['08 ff ff ff ff ff ff ff ff ff ff 01', 'a varint of eleven bytes'],
      ['7d 01 02', 'a fixed32 cut short'],
    ];
    for (const [bytes, what] of bad) assert.throws(() => new Message(hex(bytes)), ProtoError, what);
    assert.throws(() => new Message(hex('0a 01 61')).uint(1), ProtoError, 'a string read as a number');
    assert.throws(() => new Message(hex('08 80 80 80 80 80 80 80 80 01')).uint(1), ProtoError, 'beyond 2^53 as a number');
  });
});

void describe('CRI runtime.v1 requests', () => {
  void test('small requests, byte for byte', () => {
    assert.equal(h(versionRequest()), '0a027631', 'VersionRequest{version "v1"}');
    assert.equal(h(sandboxIdRequest('ab')), '0a026162', 'Stop/Remove: pod_sandbox_id');
    assert.equal(h(podSandboxStatusRequest('x', true)), '0a01781001', 'PodSandboxStatusRequest{id, verbose}');
    assert.equal(h(podSandboxStatusRequest('x', false)), '0a0178');
    assert.equal(h(statusRequest(true)), '0801');
    assert.equal(h(listPodSandboxRequest()), '');
    assert.equal(h(listPodSandboxRequest({ state: 'SANDBOX_NOTREADY' })), '0a0412020801', 'filter{state{state 1}}');
    assert.equal(h(listPodSandboxRequest({ state: 'SANDBOX_READY' })), '0a021200', 'READY is 0: the wrapper is there, empty');
    assert.equal(h(listPodSandboxRequest({ id: 'i', labelSelector: { k: 'v' } })), '0a0b0a01691a060a016b120176');
  });

  void test('RunPodSandboxRequest carries the config a kubelet sends', () => {
    const b = runPodSandboxRequest({
      metadata: { name: 'p', uid: 'u', namespace: 'n', attempt: 2 },
      hostname: 'h',
      logDirectory: '/l',
      portMappings: [{ protocol: 'UDP', containerPort: 53, hostPort: 5353, hostIp: '127.0.0.1' }, { containerPort: 80, hostPort: 8080 }],
      labels: { app: 'x' },
      linux: { cgroupParent: '/c', namespaceOptions: { network: 'POD', pid: 'CONTAINER', ipc: 'NODE' } },
    }, 'runc');
    assert.equal(h(b), hex(`
      0a 47                               # 1 config (71 bytes)
        0a 0b                             #   1 metadata
          0a 01 70  12 01 75  1a 01 6e  20 02   # name "p", uid "u", namespace "n", attempt 2
        12 01 68                          #   2 hostname "h"
        1a 02 2f 6c                       #   3 log_directory "/l"
        2a 12                             #   5 port mapping
          08 01  10 35  18 e9 29          #     protocol UDP, container_port 53, host_port 5353
          22 09 31 32 37 2e 30 2e 30 2e 31   # host_ip
        2a 05  10 50  18 90 3f            #   5 port mapping: TCP (0, left out), 80, 8080
        32 08 0a 03 61 70 70 12 01 78     #   6 labels {app: x}
        42 0c                             #   8 linux
          0a 02 2f 63                     #     1 cgroup_parent "/c"
          12 06 0a 04 10 01 18 02         #     2 security_context{1 namespace_options{pid 1, ipc 2}}
      12 04 72 75 6e 63                   # 2 runtime_handler "runc"
    `).toString('hex'));
    // And read back with the generic reader, field by field.
    const config = new Message(b).message(1)!;
    assert.equal(config.message(1)!.string(1), 'p');
    assert.equal(config.message(1)!.uint(4), 2);
    assert.deepEqual(config.messages(5).map((p) => [p.uint(1), p.int32(2), p.int32(3), p.string(4)]), [[1, 53, 5353, '127.0.0.1'], [0, 80, 8080, '']]);
    assert.equal(config.message(8)!.message(2)!.message(1)!.uint(3), 2);
  });
});

void describe('CRI runtime.v1 responses', () => {
  void test('PodSandboxStatusResponse from bytes worked out by hand', () => {
    const r = decodePodSandboxStatusResponse(hex(`
      0a 1d                             # 1 status (29 bytes)
        0a 02 73 31                     #   1 id "s1"
        18 01                           #   3 state SANDBOX_NOTREADY
        2a 15                           #   5 network (21 bytes)
          0a 08 31 30 2e 30 2e 30 2e 32 #     1 ip "10.0.0.2"
          12 09 0a 07 66 64 30 30 3a 3a 32   # 2 additional_ips {ip "fd00::2"}
      12 0a 0a 04 69 6e 66 6f 12 02 7b 7d   # 2 info {"info": "{}"}
      20 05                             # 4 timestamp: read past
    `));
    assert.equal(r.status.id, 's1');
    assert.equal(r.status.state, 'SANDBOX_NOTREADY');
    assert.equal(r.status.ip, '10.0.0.2');
    assert.deepEqual(r.status.additionalIps, ['fd00::2']);
    assert.equal(r.status.createdAt, 0n);
    assert.deepEqual(r.status.metadata, { name: '', uid: '', namespace: '', attempt: 0 });
    assert.deepEqual(r.info, { info: '{}' });
  });

  void test('a full status: nanosecond timestamps beyond 2^53, labels, metadata; the netns path from the verbose info', () => {
    const created = 1_796_625_412_437_161_335n;
    const spec = { runtimeSpec: { linux: { namespaces: [{ type: 'pid' }, { type: 'network', path: '/run/x/netns/cni-1' }] } } };
    const b = new Writer()
      .message(1, new Writer().string(1, 'id1')
        .message(2, new Writer().string(1, 'pod').string(2, 'uid').string(3, 'ns').uint(4, 1))
        .uint(4, created)
        .message(5, new Writer().string(1, '10.173.1.2'))
        .map(7, { a: 'b' })
        .map(8, { c: 'd' })
        .string(9, 'tcr-v10'))
      .map(2, { info: JSON.stringify(spec) })
      .finish();
    const r = decodePodSandboxStatusResponse(b);
    assert.equal(r.status.createdAt, created);
    assert.equal(r.status.state, 'SANDBOX_READY');
    assert.deepEqual(r.status.metadata, { name: 'pod', uid: 'uid', namespace: 'ns', attempt: 1 });
    assert.deepEqual([r.status.labels, r.status.annotations, r.status.runtimeHandler], [{ a: 'b' }, { c: 'd' }, 'tcr-v10']);
    assert.equal(netnsPathOf(r), '/run/x/netns/cni-1');
    assert.throws(() => netnsPathOf({ ...r, info: {} }), /verbose/u);
    assert.throws(() => decodePodSandboxStatusResponse(hex('0a 02 18 07')), /PodSandboxState 7/u);
  });

  void test('ListPodSandboxResponse, RunPodSandboxResponse, VersionResponse, StatusResponse', () => {
    const item = (id: string, state: number) => new Writer().string(1, id).message(2, new Writer().string(1, `n-${id}`)).uint(3, state).map(5, { l: id }).string(7, 'runc');
    const list = decodeListPodSandboxResponse(new Writer().message(1, item('a', 0)).message(1, item('b', 1)).finish());
    assert.deepEqual(list.map((p) => [p.id, p.metadata.name, p.state, p.labels['l'], p.runtimeHandler]), [['a', 'n-a', 'SANDBOX_READY', 'a', 'runc'], ['b', 'n-b', 'SANDBOX_NOTREADY', 'b', 'runc']]);
    assert.deepEqual(decodeListPodSandboxResponse(Buffer.alloc(0)), []);
    assert.equal(decodeRunPodSandboxResponse(hex('0a 03 61 62 63')), 'abc');
    assert.deepEqual(decodeVersionResponse(hex('0a 02 76 31  12 01 63  1a 01 31  22 02 76 31')), { version: 'v1', runtimeName: 'c', runtimeVersion: '1', runtimeApiVersion: 'v1' });
    const st = decodeStatusResponse(hex(`
      0a 14                                 # 1 status
        0a 08 0a 01 52 10 01 1a 01 78       #   condition {type "R", status true, reason "x"}
        0a 08 0a 01 4e 22 03 62 61 64       #   condition {type "N", message "bad"}
    `));
    assert.deepEqual(st.conditions, [{ type: 'R', status: true, reason: 'x', message: '' }, { type: 'N', status: false, reason: '', message: 'bad' }]);
  });
});

void describe('gRPC framing', () => {
  void test('a message is a flag byte, a big-endian length and the bytes', () => {
    assert.equal(h(grpcFrame(hex('0a 01 78'))), '00000000030a0178');
    assert.equal(h(grpcFrame(Buffer.alloc(0))), '0000000000');
    assert.deepEqual(grpcUnframe(hex('00 00000002 0801  00 00000000')).map(h), ['0801', '']);
    assert.throws(() => grpcUnframe(hex('00 000000')), /truncated/u);
    assert.throws(() => grpcUnframe(hex('00 00000005 08')), /truncated/u);
    assert.throws(() => grpcUnframe(hex('01 00000001 08')), /compressed/u);
  });
});
