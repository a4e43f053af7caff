# A CSE server in Python: upper-cases its input.  Run: python upper_server.py demo.upper
import sys

import cse

with cse.Server(sys.argv[1], lambda conn, code, data: (0, bytes(data).upper())) as server:
    print("serving", flush=True)
    server.serve_forever()  # until Ctrl-C
