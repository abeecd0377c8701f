#!/usr/bin/python3
"""dnsstub.py -- a tiny DNS server on loopback for the DNS discovery tests.

It answers UDP queries for ONE name, A and AAAA, from a JSON file that is
read again at every query, so a test changes the answer by rewriting the
file (write a temporary file and rename it over, so that a query never
sees half a file):

    {
      "A":     ["10.0.0.4", "10.0.0.5"],     # default []
      "AAAA":  ["fd00::4"],                  # default []
      "rcode": "NOERROR",                    # or NXDOMAIN, SERVFAIL, REFUSED
      "drop":  false,                        # true: no answer at all (timeout)
      "truncate": false,                     # true: TC bit, no records
      "ttl":   5
    }

A missing or unreadable file answers SERVFAIL. Any other name gets
NXDOMAIN; other types get an empty NOERROR answer. An answer larger than
512 bytes is sent truncated (TC bit, no records), as a real server does
without EDNS. The question is echoed byte for byte, so clients that
randomise the case of the name (libevent's evdns does) accept the answer.

Usage:
    dnsstub.py --name pool.test --records answers.json
               [--listen 127.0.0.1:0] [--port-file FILE] [--log FILE]

It only ever binds a loopback address (127.0.0.0/8 or ::1) and only
answers: it sends nothing anywhere else. With port 0 the kernel picks the
port; the address actually bound is printed on the first line of stdout
("listening 127.0.0.1:PORT") and written to --port-file (atomically) if
given. Each query is logged as one line to --log (or stderr):
"A pool.test NOERROR 2". Stops on SIGTERM or SIGINT. Standard library only.
"""

import argparse
import ipaddress
import json
import os
import signal
import socket
import struct
import sys

TYPE_A, TYPE_AAAA, CLASS_IN = 1, 28, 1
RCODES = {"NOERROR": 0, "FORMERR": 1, "SERVFAIL": 2, "NXDOMAIN": 3,
          "NOTIMP": 4, "REFUSED": 5}
UDP_MAX = 512


def parse_listen(text):
    """'127.0.0.1:53', '[::1]:53' -> (family, host, port); loopback only."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    addr = ipaddress.ip_address(host)
    if not addr.is_loopback:
        raise SystemExit("dnsstub: %s is not a loopback address" % host)
    family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
    return family, host, int(port)


def parse_question(msg):
    """(id, flags, qname_bytes, qname_text, qtype, qclass, end) or None."""
    if len(msg) < 12:
        return None
    qid, flags, qd, _an, _ns, _ar = struct.unpack("!HHHHHH", msg[:12])
    if flags & 0x8000 or qd != 1:
        return None
    i, labels = 12, []
    while True:
        if i >= len(msg):
            return None
        n = msg[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0 or i + 1 + n > len(msg):
            return None          # no compression in a question we accept
        labels.append(msg[i + 1:i + 1 + n])
        i += 1 + n
    if i + 4 > len(msg):
        return None
    qtype, qclass = struct.unpack("!HH", msg[i:i + 4])
    text = b".".join(labels).decode("ascii", "replace").lower()
    return qid, flags, msg[12:i], text, qtype, qclass, i + 4


def load(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def answer(msg, name, records_path):
    """The reply to msg (bytes), or None to stay silent; and a log line."""
    q = parse_question(msg)
    if q is None:
        return None, "malformed query ignored"
    qid, qflags, qname, qtext, qtype, qclass, end = q
    tname = {TYPE_A: "A", TYPE_AAAA: "AAAA"}.get(qtype, str(qtype))
    rrs = []
    tc = False
    if qtext.rstrip(".") != name:
        rcode = RCODES["NXDOMAIN"]
    else:
        conf = load(records_path)
        if conf is None:
            rcode = RCODES["SERVFAIL"]
        else:
            if conf.get("drop"):
                return None, "%s %s dropped" % (tname, qtext)
            rcode = RCODES.get(str(conf.get("rcode", "NOERROR")).upper(), 2)
            tc = bool(conf.get("truncate"))
            ttl = int(conf.get("ttl", 5))
            if rcode == 0 and qclass == CLASS_IN and qtype in (TYPE_A, TYPE_AAAA):
                key = "A" if qtype == TYPE_A else "AAAA"
                for a in conf.get(key, []):
                    fam = socket.AF_INET if qtype == TYPE_A else socket.AF_INET6
                    rdata = socket.inet_pton(fam, a)
                    # owner: a pointer to the question's name at offset 12
                    rrs.append(struct.pack("!HHHIH", 0xC00C, qtype, CLASS_IN,
                                           ttl, len(rdata)) + rdata)
    # QR, the query's opcode and RD, AA, RA
    flags = 0x8000 | (qflags & 0x7800) | 0x0400 | (qflags & 0x0100) | 0x0080
    question = qname + msg[end - 4:end]
    body = b"".join(rrs)
    if tc or 12 + len(question) + len(body) > UDP_MAX:
        tc, rrs, body = True, [], b""
        flags |= 0x0200
    flags |= rcode
    head = struct.pack("!HHHHHH", qid, flags, 1, len(rrs), 0, 0)
    rname = [k for k, v in RCODES.items() if v == rcode][0]
    line = "%s %s %s %d%s" % (tname, qtext, rname, len(rrs),
                              " truncated" if tc else "")
    return head + question + body, line


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--name", required=True, help="the one name answered")
    ap.add_argument("--records", required=True, help="JSON file of answers")
    ap.add_argument("--listen", default="127.0.0.1:0")
    ap.add_argument("--port-file")
    ap.add_argument("--log")
    args = ap.parse_args()

    name = args.name.lower().rstrip(".")
    family, host, port = parse_listen(args.listen)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((host, port))
    bound = sock.getsockname()
    where = ("[%s]:%d" if family == socket.AF_INET6 else "%s:%d") % bound[:2]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(where + "\n")
        os.rename(tmp, args.port_file)
    print("listening " + where, flush=True)
    log = open(args.log, "a", buffering=1) if args.log else sys.stderr

    def stop(_sig, _frm):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    while True:
        try:
            msg, peer = sock.recvfrom(4096)
        except InterruptedError:
            continue
        reply, line = answer(msg, name, args.records)
        print(line, file=log, flush=True)
        if reply is not None:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    main()
