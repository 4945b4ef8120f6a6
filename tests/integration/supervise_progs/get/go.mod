module sfyget

go 1.19
