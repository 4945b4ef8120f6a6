"""An FTP server (pyftpdlib, Debian's python3-pyftpdlib) for test_bind.py: anonymous
with write access to ROOT, on HOST, port 0; prints "ftpd: listening on HOST:PORT".

  ftpd.py ROOT HOST"""

import logging
import sys

from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer

root, host = sys.argv[1], sys.argv[2]
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
auth = DummyAuthorizer()
auth.add_anonymous(root, perm="elradfmw")
handler = FTPHandler
handler.authorizer = auth
server = FTPServer((host, 0), handler)
h, port = server.socket.getsockname()[:2]
print("ftpd: listening on %s:%d" % (h, port), flush=True)
server.serve_forever()
