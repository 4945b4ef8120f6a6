"""An active-mode FTP client (python's ftplib, ftp.set_pasv(False)) for test_bind.py:
downloads NAME, uploads it back as UPNAME, and prints one JSON line with the
sha256 of what it got and the data-connection commands the server answered.

  ftpclient.py HOST PORT NAME UPNAME"""

import hashlib
import io
import json
import sys

from ftplib import FTP

host, port, name, upname = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ftp = FTP()
ftp.connect(host, port, timeout=30)
ftp.login()
ftp.set_pasv(False)
got = io.BytesIO()
ftp.retrbinary("RETR " + name, got.write)
ftp.storbinary("STOR " + upname, io.BytesIO(got.getvalue()))
listing = []
ftp.retrlines("NLST", listing.append)
ftp.quit()
print(json.dumps({"sha256": hashlib.sha256(got.getvalue()).hexdigest(), "size": len(got.getvalue()),
                  "listing": sorted(listing)}))
