#include "semihosting.h"

#include <string.h>

#define SYS_OPEN 0x01u
#define SYS_CLOSE 0x02u
#define SYS_WRITE0 0x04u
#define SYS_WRITE 0x05u
#define SYS_READ 0x06u
#define SYS_SEEK 0x0Au
#define SYS_FLEN 0x0Cu
#define SYS_EXIT_EXTENDED 0x20u
#define ADP_STOPPED_APPLICATION_EXIT 0x20026u

static uint32_t semihost_call(uint32_t op, const void *arg)
{
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

int32_t sh_open(const char *path, uint32_t mode)
{
    uint32_t args[3] = {(uint32_t)(uintptr_t)path, mode, (uint32_t)strlen(path)};
    return (int32_t)semihost_call(SYS_OPEN, args);
}

int32_t sh_close(int32_t handle)
{
    uint32_t args[1] = {(uint32_t)handle};
    return (int32_t)semihost_call(SYS_CLOSE, args);
}

uint32_t sh_read(int32_t handle, uint8_t *data, uint32_t n)
{
    uint32_t args[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)data, n};
    return semihost_call(SYS_READ, args);
}

uint32_t sh_write(int32_t handle, const uint8_t *data, uint32_t n)
{
    uint32_t args[3] = {(uint32_t)handle, (uint32_t)(uintptr_t)data, n};
    return semihost_call(SYS_WRITE, args);
}

int32_t sh_seek(int32_t handle, uint32_t position)
{
    uint32_t args[2] = {(uint32_t)handle, position};
    return (int32_t)semihost_call(SYS_SEEK, args);
}

int32_t sh_file_length(int32_t handle)
{
    uint32_t args[1] = {(uint32_t)handle};
    return (int32_t)semihost_call(SYS_FLEN, args);
}

void sh_write0(const char *text)
{
    semihost_call(SYS_WRITE0, text);
}

void sh_exit(uint32_t status)
{
    uint32_t args[2] = {ADP_STOPPED_APPLICATION_EXIT, status};
    semihost_call(SYS_EXIT_EXTENDED, args);
    for (;;) {
    }
}
