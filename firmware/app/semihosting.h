/* ARM semihosting calls (host file I/O through the debugger or emulator), as the ARM spec numbers them. */
#ifndef HIL_SEMIHOSTING_H
#define HIL_SEMIHOSTING_H

#include <stdint.h>

#define SH_MODE_READ_BINARY 1u  /* "rb" */
#define SH_MODE_WRITE_BINARY 5u /* "wb" */

/* A host file handle, or -1. */
int32_t sh_open(const char *path, uint32_t mode);
int32_t sh_close(int32_t handle);
/* Bytes NOT transferred: 0 means all of them. */
uint32_t sh_read(int32_t handle, uint8_t *data, uint32_t n);
uint32_t sh_write(int32_t handle, const uint8_t *data, uint32_t n);
/* Moves to byte `position` from the file's start: 0, or negative on failure. */
int32_t sh_seek(int32_t handle, uint32_t position);
/* File length in bytes, or -1. */
int32_t sh_file_length(int32_t handle);
/* A NUL-terminated string to the host's console (QEMU: its stderr). */
void sh_write0(const char *text);
/* Ends the program with an exit status the host sees whole (SYS_EXIT_EXTENDED). */
void sh_exit(uint32_t status) __attribute__((noreturn));

#endif
