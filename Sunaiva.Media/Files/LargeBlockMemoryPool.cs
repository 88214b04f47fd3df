using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;

namespace Sunaiva.Media.Files;

/// <summary>
/// Kestrel's memory for Media's connections in blocks of 64 KiB instead of its own 4 KiB: a socket read fills at most one
/// block, so a 1 MB upload arrived in about 256 reads (a system call each),
/// and arrives in about 16. Measured with <c>perf stat -p</c> on Media during bench/Sunaiva.Bench.Files: 534 <c>recvfrom</c>
/// per 1 MB upload with Kestrel's pool, about 100 with this one; 1 MB uploads 0.71x a direct put on average over six runs,
/// 0.76x with it (docs/files.md, "Kestrel reads an upload in 64 KiB"). Kestrel takes its pools from the
/// <see cref="IMemoryPoolFactory{T}"/> registered in the container (ASP.NET Core 10), and no package offers one with another block size:
/// ASP.NET Core's own (<c>PinnedBlockMemoryPool</c>) is internal and its block size a constant, hence this small one.
/// Blocks are pinned arrays (sockets read into them), reused through a free list that keeps at most
/// <see cref="MaxFreeBlocks"/> of them (4 MiB); any more that come back are left to the garbage collector, so a burst
/// of uploads does not stay in memory once it is over.
/// </summary>
internal sealed class LargeBlockMemoryPoolFactory : IMemoryPoolFactory<byte>
{
    public MemoryPool<byte> Create(MemoryPoolOptions? options = null) => new LargeBlockMemoryPool();
}

/// <summary>A memory pool of pinned 64 KiB blocks with a bounded free list (see <see cref="LargeBlockMemoryPoolFactory"/>).</summary>
internal sealed class LargeBlockMemoryPool : MemoryPool<byte>
{
    public const int BlockSize = 64 * 1024;

    public const int MaxFreeBlocks = 64;

    private readonly ConcurrentQueue<Block> _free = new();
    private int _freeCount;

    public override int MaxBufferSize => BlockSize;

    /// <summary>Blocks waiting in the free list (for tests).</summary>
    public int FreeBlocks => Volatile.Read(ref _freeCount);

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(minBufferSize, BlockSize);
        if (_free.TryDequeue(out var block))
        {
            Interlocked.Decrement(ref _freeCount);
            block.Rented = true;
            return block;
        }

        return new Block(this);
    }

    protected override void Dispose(bool disposing)
    {
        _free.Clear();
        Volatile.Write(ref _freeCount, 0);
    }

    private void Return(Block block)
    {
        if (Interlocked.Increment(ref _freeCount) <= MaxFreeBlocks)
        {
            _free.Enqueue(block);
        }
        else
        {
            Interlocked.Decrement(ref _freeCount);
        }
    }

    private sealed class Block(LargeBlockMemoryPool pool) : IMemoryOwner<byte>
    {
        public Memory<byte> Memory { get; } = GC.AllocateUninitializedArray<byte>(BlockSize, pinned: true);

        public bool Rented { get; set; } = true;

        public void Dispose()
        {
            // Returned once per rental: a second Dispose of the same rental must not put the block in the list twice.
            if (Rented)
            {
                Rented = false;
                pool.Return(this);
            }
        }
    }
}
