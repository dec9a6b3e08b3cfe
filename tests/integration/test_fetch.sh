#!/usr/bin/env bash
# latentmill fetch against a local HTTP server with injected faults
# (tests/integration/fetch_server.py): a connection cut mid-file resumes with
# Range instead of restarting, a server that ignores Range restarts cleanly,
# 500 then success retries, 404 fails at once, a wrong checksum is refused and
# leaves nothing behind, Drive's confirmation page is followed, a killed fetch
# resumes, several files at once, a rerun skips complete files.
. "$(dirname "$0")/lib.sh"
cd "$TMP" || fail "cd"
mkdir -p srv
"$PY" - <<'PYEOF' || fail "make data"
import os, hashlib
for name, n in (("data.bin", 3 * 1024 * 1024 + 17), ("b.bin", 200000), ("c.bin", 150001), ("big.bin", 4 * 1024 * 1024)):
    d = os.urandom(n)
    open("srv/" + name, "wb").write(d)
    open("srv/" + name + ".sha256", "w").write(hashlib.sha256(d).hexdigest())
    open("srv/" + name + ".md5", "w").write(hashlib.md5(d).hexdigest())
PYEOF
"$PY" "$ROOT/tests/integration/fetch_server.py" srv port log &
SRV=$!
trap 'kill $SRV 2>/dev/null; rm -rf "$TMP"' EXIT
for _ in $(seq 100); do [ -f port ] && break; sleep 0.1; done
[ -f port ] || fail "server did not start"
U="http://127.0.0.1:$(cat port)"
SHA=$(cat srv/data.bin.sha256)
F=("$LM" fetch -q --backoff 0.1)

# 1. a cut mid-file: resumed from where it stopped
"${F[@]}" "$U/cut/data.bin" -o d1 --sha256 "$SHA" >out1 2>err1 || { cat err1; fail "cut: fetch failed"; }
cmp -s d1/data.bin srv/data.bin || fail "cut: file differs"
[ ! -e d1/data.bin.part ] || fail "cut: .part left behind"
grep -P "^/cut/data.bin\tbytes=[1-9][0-9]*-\t206\t" log >/dev/null || fail "cut: no resumed (Range) request in the log: $(cat log)"
sent=$(awk -F'\t' '$1=="/cut/data.bin"{s+=$4} END{print s}' log)
[ "$sent" -eq "$(stat -c %s srv/data.bin)" ] || fail "cut: $sent bytes served, expected exactly the file size (a restart would send more)"

# 2. a server that ignores Range: the retry starts over and the result is right
"${F[@]}" "$U/norange/data.bin" -o d2 --md5 "$(cat srv/data.bin.md5)" >/dev/null 2>err2 || { cat err2; fail "norange"; }
cmp -s d2/data.bin srv/data.bin || fail "norange: file differs"

# 3. 500 then success
"${F[@]}" "$U/flaky/b.bin" -o d3 --sha256 "$(cat srv/b.bin.sha256)" >/dev/null 2>err3 || { cat err3; fail "flaky"; }
cmp -s d3/b.bin srv/b.bin || fail "flaky: file differs"
grep -q "HTTP 500; retry 1" err3 || fail "flaky: no retry message: $(cat err3)"

# 4. 404: fails at once with the status, nothing left
"${F[@]}" "$U/missing/b.bin" -o d4 >/dev/null 2>err4 && fail "404: exit 0"
grep -q "HTTP 404" err4 || fail "404: message: $(cat err4)"
[ -z "$(ls -A d4 2>/dev/null)" ] || fail "404: files left: $(ls d4)"
[ "$(grep -c '^/missing/b.bin' log)" = 1 ] || fail "404 was retried"

# 5. a wrong checksum: refused, no file, no .part
"${F[@]}" "$U/bad/b.bin" -o d5 --sha256 "$(cat srv/b.bin.sha256)" >/dev/null 2>err5
[ $? = 1 ] || fail "bad checksum: exit status"
grep -q "SHA-256 mismatch: got [0-9a-f]*, expected $(cat srv/b.bin.sha256)" err5 || fail "bad checksum: message: $(cat err5)"
[ ! -e d5/b.bin ] && [ ! -e d5/b.bin.part ] || fail "bad checksum: a file was left: $(ls d5)"

# 6. Drive's confirmation page is followed
"${F[@]}" "$U/drive?id=c.bin" -o d6 --sha256 "$(cat srv/c.bin.sha256)" >/dev/null 2>err6 || { cat err6; fail "drive"; }
cmp -s d6/drive srv/c.bin || cmp -s "d6/drive?id=c.bin" srv/c.bin || [ -f d6/drive ] || fail "drive: no file"
cmp -s d6/drive srv/c.bin || fail "drive: file differs"
grep -q "^/drive-dl?id=c.bin&export=download&confirm=t&uuid=0f1e2d3c" log || fail "drive: confirmation not followed"

# 7. several files at once; a rerun skips them without a request
"${F[@]}" "$U/ok/b.bin" "$U/ok/c.bin" "$U/ok/data.bin" -o d7 --parallel 3 >out7 2>err7 || { cat err7; fail "parallel"; }
for f in b.bin c.bin data.bin; do cmp -s d7/$f srv/$f || fail "parallel: $f differs"; done
n=$(wc -l <log)
"${F[@]}" "$U/ok/b.bin" "$U/ok/c.bin" "$U/ok/data.bin" -o d7 >out7b 2>&1 || fail "rerun"
grep -q "3 of 3 files complete (3 were already there)" out7b || fail "rerun: $(cat out7b)"
[ "$(wc -l <log)" = "$n" ] || fail "rerun made requests"

# 8. kill -9 of a fetch mid-file, then the rerun resumes
"$LM" fetch -q "$U/slow/big.bin" -o d8 >/dev/null 2>&1 &
P=$!
for _ in $(seq 100); do
    s=$(stat -c %s d8/big.bin.part 2>/dev/null || echo 0)
    [ "$s" -gt 300000 ] && break
    sleep 0.05
done
{ kill -9 $P && wait $P; } 2>/dev/null
[ -f d8/big.bin.part ] && [ ! -e d8/big.bin ] || fail "kill: expected only a .part"
"${F[@]}" "$U/ok/big.bin" -o d8 --sha256 "$(cat srv/big.bin.sha256)" >/dev/null 2>err8 || { cat err8; fail "resume after kill"; }
cmp -s d8/big.bin srv/big.bin || fail "kill: file differs"
grep -P "^/ok/big.bin\tbytes=[1-9][0-9]*-\t206" log >/dev/null || fail "kill: rerun did not resume"

# 9. bad usage
"$LM" fetch "$U/ok/b.bin" --sha256 xyz >/dev/null 2>&1; [ $? = 2 ] || fail "bad --sha256 not exit 2"
"$LM" fetch ftp://x/y >/dev/null 2>&1; [ $? = 2 ] || fail "non-http URL not exit 2"
echo "ok: cut+resume, ignored Range, 500 retry, 404, bad checksum, Drive confirmation, parallel+rerun, kill+resume"
