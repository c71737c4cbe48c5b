#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Regenerates the seed corpora of fuzz/corpus/{snapshot,tar,agent_protocol} from a real run:
# a `clsync demo` cluster, a `clsync backup` of two chunks (holes, a hard link, an empty
# directory, a long and a non-UTF-8 name), and a conversation with a real `clsync agent`
# (client frames built here, the agent's answers recorded). Topology and filter seeds come from
# the unit tests' texts. Usage: fuzz/make_corpus.py BUILD_DIR/clsync (needs zstd).
import base64, glob, json, os, re, shutil, struct, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def cbor(v):
    """Encodes like nlohmann::json::to_cbor for the values we use (names as raw text bytes)."""
    def head(major, n):
        if n < 24:
            return bytes([major << 5 | n])
        for add, fmt in ((24, '>B'), (25, '>H'), (26, '>I'), (27, '>Q')):
            if n < 1 << (8 * struct.calcsize(fmt)):
                return bytes([major << 5 | add]) + struct.pack(fmt, n)
    if v is None:
        return b'\xf6'
    if v is True or v is False:
        return b'\xf5' if v else b'\xf4'
    if isinstance(v, int):
        return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return head(3, len(v)) + v
    if isinstance(v, list):
        return head(4, len(v)) + b''.join(cbor(e) for e in v)
    if isinstance(v, dict):
        return head(5, len(v)) + b''.join(cbor(k) + cbor(e) for k, e in sorted(v.items()))
    raise TypeError(v)


def frame(kind, payload=b''):
    if not isinstance(payload, bytes):
        payload = cbor(payload)
    return struct.pack('>IB', len(payload), kind) + payload


def name(rec, key='path'):
    b64 = rec.get(key + '_b64')
    return base64.b64decode(b64) if b64 else rec.get(key, '').encode()


def wire_manifest(chunk):
    files = []
    for f in chunk['files']:
        entry = {k: f[k] for k in ('size', 'mtime_ns', 'mode', 'uid', 'gid')}
        entry['path'] = name(f)
        if f.get('link_to') or f.get('link_to_b64'):
            entry['link_to'] = name(f, 'link_to')
        files.append({'entry': entry, 'sha256': f['sha256'], 'holes': f.get('holes', [])})
    dirs = []
    for d in chunk['directories']:
        dirs.append({'path': name(d), **{k: d[k] for k in ('mtime_ns', 'mode', 'uid', 'gid')}})
    return {'files': files, 'dirs': dirs}


def write(target, fname, data):
    os.makedirs(os.path.join(HERE, 'corpus', target), exist_ok=True)
    with open(os.path.join(HERE, 'corpus', target, fname), 'wb') as f:
        f.write(data)


def main(clsync):
    tmp = tempfile.mkdtemp(prefix='clsync-corpus-')
    env = dict(os.environ, CLSYNC_STATE_DIR=tmp + '/state')
    run = lambda *a: subprocess.run(a, check=True, env=env, stdout=subprocess.PIPE).stdout
    run(clsync, 'demo', '--dir', tmp + '/demo', '--chunk-size', '2K')
    base = tmp + '/demo/a/%s/ssd0/chunkData/Level1/20200601'
    for node in ('P1-dn1', 'P2-dn1'):
        for f in sorted(os.listdir(base % node + '/0/Snapshot'))[3:]:
            os.remove(base % node + '/0/Snapshot/' + f)
    d = base % 'P1-dn1' + '/1/Snapshot'
    for f in sorted(os.listdir(d))[2:]:
        os.remove(d + '/' + f)
    with open(d + '/sparse.col', 'wb') as f:
        f.truncate(8192)
        f.seek(8192)
        f.write(b'tail')
    os.link(d + '/Amount.col', d + '/link.col')
    os.makedirs(d + '/sub/empty')
    open(d + '/sub/f.col', 'w').write('x')
    open(d.encode() + b'/name\xff.col', 'w').write('y')
    open(d + '/' + 'L' * 120 + '.col', 'w').write('z')
    os.chmod(d + '/Amount.col', 0o640)
    os.utime(d + '/sub/f.col', ns=(0, -500_000_000))
    shutil.rmtree(base % 'P2-dn1' + '/1/Snapshot')
    subprocess.run(['rsync', '-aHS', d, base % 'P2-dn1' + '/1/'], check=True)
    run(clsync, '-c', tmp + '/demo/cluster-a.yaml', 'backup', '--to', tmp + '/repo',
        '--chunk', 'Level1/20200601/1/Snapshot', '--chunk', 'Level1/20200601/0/Snapshot')
    snap_path = glob.glob(tmp + '/repo/snapshots/*.json')[0]
    snap_text = open(snap_path, 'rb').read()
    write('snapshot', 'backup_two_chunks.json', snap_text)
    # Members given twice (the last counts): the reader turns entries into structs as they are
    # parsed, so it must forget what an overridden member held.
    write('snapshot', 'members_twice.json',
          snap_text.replace(b'"files": [', b'"files": [{"path": "x"}, 5], "files": [', 1)
                   .replace(b'"chunks": [', b'"chunks": [7], "chunks": [', 1))
    shutil.copy(tmp + '/demo/cluster-a.yaml', os.path.join(HERE, 'corpus/topology/demo_a.yaml'))
    snap = json.loads(snap_text)
    for i, chunk in enumerate(snap['chunks']):
        obj = glob.glob(tmp + '/repo/objects/*/%s.tar.zst' % chunk['object'])[0]
        zst = open(obj, 'rb').read()
        tar = subprocess.run(['zstd', '-dc', obj], check=True, stdout=subprocess.PIPE).stdout
        man = cbor(wire_manifest(chunk))
        write('tar', 'headers_%d' % i, b'\x00' + tar[:4096])
        write('tar', 'unpack_tar_%d' % i, b'\x02' + struct.pack('<H', len(man)) + man + tar)
        write('tar', 'unpack_zstd_%d' % i, b'\x03' + struct.pack('<H', len(man)) + man + zst)
    write('tar', 'round_trip_long', b'\x01' + b'\x00' + struct.pack('<QqIIIH', 70004,
          -500_000_000, 0o644, 70000, 5, 130) + b'd/' + b'L' * 128)
    write('tar', 'round_trip_link', b'\x01' + b'\x01' + struct.pack('<qIIIH', 1591023600136739802,
          0o640, 0, 0, 8) + b'link.col' + b'Amount.col')

    # A conversation with a real agent: the client's frames, then the agent's answers.
    # A small volume of its own (the demo's holds 100 chunks): just the two chunks backed up.
    vol = tmp + '/vol'
    os.makedirs(vol + '/Level1/20200601')
    for c in ('0', '1'):
        subprocess.run(['rsync', '-aHS', base % 'P1-dn1' + '/' + c, vol + '/Level1/20200601/'],
                       check=True)
    chunk1 = snap['chunks'][0]
    reqs = [frame(1, {'protocol': 4, 'version': '0.1.0', 'roots': [vol, tmp + '/repo'],
                      'keepalive_ms': 5000, 'compress': False}),
            frame(32, {'databases': [{'name': 'Level1', 'levels': 2}], 'with_files': True,
                       'with_hashes': True}),
            frame(33, {'volume': vol, 'key': 'Level1/20200601/1/Snapshot'}),
            frame(48, {'volume': vol}),
            frame(51, {'root': tmp + '/repo', 'relpath': 'snapshots'}),
            frame(70, {'volume': vol, 'key': 'Level1/20200601/0/Snapshot',
                       'options': {'level': 3, 'threads': 0, 'columns': []}}),
            frame(72, {'root': tmp + '/repo', 'relpath': os.path.relpath(glob.glob(
                tmp + '/repo/objects/*/%s.tar.zst' % chunk1['object'])[0], tmp + '/repo'),
                'manifest': wire_manifest(chunk1)}),
            [frame(34, {'volume': vol, 'task': 'fuzzseed1'})],
            [frame(7, {'path': 'a.col', 'size': 4099, 'mtime_ns': 1, 'mode': 0o644, 'uid': 0,
                       'gid': 0}),
             frame(6, b'abc'), frame(14, {'length': 4096}),
             frame(8, {'sha256': 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f2001'
                                 '5ad'}),
             frame(15, {'path': '', 'mtime_ns': 1, 'mode': 0o755, 'uid': 0, 'gid': 0}),
             frame(10)],
            frame(35, {'volume': vol, 'key': '../etc'}),
            frame(53, {})]
    # One request at a time, each answer read up to its final frame (REPLY, ERROR, HELLO_REPLY).
    agent = subprocess.Popen([clsync, 'agent'], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             env=env)
    out = b''
    for r in reqs:
        agent.stdin.write(b''.join(r) if isinstance(r, list) else r)
        agent.stdin.flush()
        while True:
            head = agent.stdout.read(5)
            body = agent.stdout.read(struct.unpack('>I', head[:4])[0])
            out += head + body
            if head[4] in (2, 3, 4):
                break
    agent.stdin.close()
    agent.wait()
    reqs = [b''.join(r) if isinstance(r, list) else r for r in reqs]
    write('agent_protocol', 'agent_side_session', b'\x01' + b''.join(reqs))
    write('agent_protocol', 'client_side_session', b'\x00' + out)
    write('agent_protocol', 'client_side_error', b'\x00' + frame(4, {'kind': 'not_found',
          'message': 'node P1: no chunk', 'retryable': False}))
    shutil.rmtree(tmp)


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'build/clsync'))
