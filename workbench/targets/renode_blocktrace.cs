// SPDX-License-Identifier: MIT
//
// workbench: a Renode block trace for the Cortex-M4 cycle estimate (workbench/targets/renode.py).
//
// Renode's own ExecutionTracer decodes every traced instruction with its LLVM disassembler library
// (libllvm-disas), even for a trace of PCs only; a Renode without it cannot trace. This trace needs
// no disassembler: Renode calls it at the end of every translation block that ran, with the block's
// first PC and the number of its instructions that executed, and it writes just that. The host's
// trace tool (cm4_profile.c, CM4_TRACE_MAIN) knows every instruction's length from the ELF.
//
// Loaded into Renode with `include @renode_blocktrace.cs` (Renode compiles it), then
//     sysbus.cpu CreateWorkbenchBlockTrace "name" @path
// The file: the 8 ASCII bytes "WbBlock1"; then per block its first PC (uint32) and the count of its
// instructions that executed (uint32), little-endian. Renode disposes the trace (flushing the file)
// when it quits, as it does its own tracer, kept like it among the emulation's externals.

using System;
using System.IO;
using System.Text;
using Antmicro.Renode.Core;
using Antmicro.Renode.Exceptions;
using Antmicro.Renode.Peripherals.CPU;

namespace Workbench
{
    public static class WorkbenchBlockTraceExtensions
    {
        public static void CreateWorkbenchBlockTrace(this TranslationCPU cpu, string name, string path)
        {
            var trace = new WorkbenchBlockTrace(cpu, path);
            try
            {
                EmulationManager.Instance.CurrentEmulation.ExternalsManager.AddExternal(trace, name);
            }
            catch(Exception)
            {
                trace.Dispose();
                throw new RecoverableException($"a trace named {name} is already running");
            }
        }
    }

    public class WorkbenchBlockTrace : IExternal, IDisposable
    {
        public WorkbenchBlockTrace(TranslationCPU cpu, string path)
        {
            this.cpu = cpu;
            output = new BinaryWriter(new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 20));
            output.Write(Encoding.ASCII.GetBytes(Signature));
            cpu.SetHookAtBlockEnd(OnBlockEnd);
        }

        public void Dispose()
        {
            lock(output)
            {
                if(closed)
                {
                    return;
                }
                closed = true;
                try
                {
                    cpu.SetHookAtBlockEnd(null);
                }
                catch(Exception)
                {
                    // the CPU is already gone: nothing calls the hook any more
                }
                output.Flush();
                output.Dispose();
            }
        }

        private void OnBlockEnd(ulong pc, uint executed)
        {
            if(executed == 0)
            {
                return;
            }
            lock(output)
            {
                if(!closed)
                {
                    output.Write((uint)pc);
                    output.Write(executed);
                }
            }
        }

        private bool closed;
        private readonly TranslationCPU cpu;
        private readonly BinaryWriter output;

        private const string Signature = "WbBlock1";
    }
}
