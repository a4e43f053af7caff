# A CSE client in Python: python upper_client.py demo.upper "hello, kernel"
import sys

import cse

with cse.Client(sys.argv[1]) as client:
    print(client.call(1, sys.argv[2].encode()).data.decode())
