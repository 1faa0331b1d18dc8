/*
 * Vector table and reset for any Cortex-M4F board. Only the system exceptions are listed: the
 * application uses no peripheral interrupt, so one table serves every board.
 */
#include <stdint.h>
#include <string.h>

#include "runtime.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sccm_bss, _eccm_bss, _estack;

extern int main(void);

void Reset_Handler(void);
void Default_Handler(void);
void HardFault_Handler(void);
void NMI_Handler(void) __attribute__((weak, alias("Default_Handler")));
void MemManage_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void BusFault_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void UsageFault_Handler(void) __attribute__((weak, alias("HardFault_Handler")));
void SVC_Handler(void) __attribute__((weak, alias("Default_Handler")));
void DebugMon_Handler(void) __attribute__((weak, alias("Default_Handler")));
void PendSV_Handler(void) __attribute__((weak, alias("Default_Handler")));
void SysTick_Handler(void) __attribute__((weak, alias("Default_Handler")));

typedef void (*vector_entry)(void);

__attribute__((section(".isr_vector"), used)) const vector_entry vector_table[16] = {
    (vector_entry)(uintptr_t)&_estack,
    Reset_Handler,
    NMI_Handler,
    HardFault_Handler,
    MemManage_Handler,
    BusFault_Handler,
    UsageFault_Handler,
    0,
    0,
    0,
    0,
    SVC_Handler,
    DebugMon_Handler,
    0,
    PendSV_Handler,
    SysTick_Handler,
};

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_SHCSR (*(volatile uint32_t *)0xE000ED24u)
#define SCB_VTOR (*(volatile uint32_t *)0xE000ED08u)

void Reset_Handler(void)
{
    /* CP10/CP11 full access before any float instruction, or the first one raises NOCP. */
    SCB_CPACR |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    SCB_VTOR = (uint32_t)(uintptr_t)vector_table;
    /* Route MemManage, BusFault and UsageFault to their own handlers so the fault report is precise. */
    SCB_SHCSR |= (7u << 16);

    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0;
    }
    for (uint32_t *dst = &_sccm_bss; dst < &_eccm_bss;) {
        *dst++ = 0;
    }
    stack_paint();
    main();
    for (;;) {
    }
}

void Default_Handler(void)
{
    fault_report(0, 0);
}

/* Hands the stacked exception frame of whichever stack was active to the C fault reporter. */
__attribute__((naked)) void HardFault_Handler(void)
{
    __asm__ volatile(
        "tst lr, #4\n\t"
        "ite eq\n\t"
        "mrseq r0, msp\n\t"
        "mrsne r0, psp\n\t"
        "mrs r1, ipsr\n\t"
        "b fault_report\n\t");
}
