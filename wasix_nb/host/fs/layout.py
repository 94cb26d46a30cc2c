"""Structs the file calls write, per import module (preview1 and WASIX alike; snapshot 0 differs)."""

import struct

FILESTAT = struct.Struct("<QQB7xQQQQQ")  # dev, ino, filetype @16, nlink u64 @24, size, atim, mtim, ctim (64 B)
FILESTAT0 = struct.Struct("<QQB3xIQQQQ")  # snapshot 0: nlink u32 @20, size @24 ... (56 B)
DIRENT = struct.Struct("<QQIB3x")  # d_next, d_ino, d_namlen, d_type (24 B; snapshot 0 the same)
PRESTAT = struct.Struct("<B3xI")  # tag 0 = dir, name length (8 B)
WHENCE0 = {0: 1, 1: 2, 2: 0}  # snapshot 0 (CUR, END, SET) -> preview1 (SET 0, CUR 1, END 2)


def stat_tuple(st, ftype):
    return (st.st_dev, st.st_ino, ftype, st.st_nlink, st.st_size, st.st_atime_ns, st.st_mtime_ns, st.st_ctime_ns)
