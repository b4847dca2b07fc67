// placeholder until the kernel build lands
console.log('asm: nothing to build yet');
