module sfyudp

go 1.19
