using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Sunaiva.Media.Tests;

/// <summary>What a killed render or extraction leaves in the temp directory is removed once idle past the age limit, and nothing else.</summary>
public sealed class ScratchSweeperTests : IDisposable
{
    private readonly DirectoryInfo _root = Directory.CreateTempSubdirectory("sunaiva-sweep-test-");
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    [Fact]
    public void Entries_idle_past_the_age_limit_are_removed_and_entries_in_use_or_not_ours_stay()
    {
        // File times are written by the system clock, and idleness is measured on it.
        var old = DateTime.UtcNow - ScratchSweeper.MaxAge - TimeSpan.FromMinutes(1);
        var recent = DateTime.UtcNow - TimeSpan.FromMinutes(5);
        var killedRender = Folder(ScratchSweeper.VideoPrefix + "killed", ("video.mp4", old), ("narration.wav", old));
        var killedDownload = Folder(ScratchSweeper.HeyGenPrefix + "killed", ("video.mp4", old));
        // An old folder whose encoder still writes its MP4: in use.
        var rendering = Folder(ScratchSweeper.VideoPrefix + "running", ("narration.wav", old), ("video.mp4", recent));
        var killedExtraction = File(ScratchSweeper.ExtractPrefix + "killed", old);
        var extracting = File(ScratchSweeper.ExtractPrefix + "running", recent);
        var notOurs = Folder("someone-else", ("data", old));
        Directory.SetLastWriteTimeUtc(rendering, old);

        var removed = new ScratchSweeper(_time, NullLogger<ScratchSweeper>.Instance) { Root = _root.FullName }.Sweep();

        Assert.Equal(3, removed);
        Assert.False(Directory.Exists(killedRender));
        Assert.False(Directory.Exists(killedDownload));
        Assert.False(System.IO.File.Exists(killedExtraction));
        Assert.True(Directory.Exists(rendering));
        Assert.True(System.IO.File.Exists(extracting));
        Assert.True(Directory.Exists(notOurs));
    }

    [Fact]
    public void A_service_clock_moved_hours_ahead_removes_no_scratch_written_recently()
    {
        // Tests move a Media app's clock hours ahead; a sweep on that clock removed the scratch of renders running in other processes.
        var recent = DateTime.UtcNow - TimeSpan.FromMinutes(5);
        var render = Folder(ScratchSweeper.VideoPrefix + "running", ("video.mp4", recent));
        var extraction = File(ScratchSweeper.ExtractPrefix + "running", recent);
        _time.Advance(TimeSpan.FromHours(3));

        var removed = new ScratchSweeper(_time, NullLogger<ScratchSweeper>.Instance) { Root = _root.FullName }.Sweep();

        Assert.Equal(0, removed);
        Assert.True(Directory.Exists(render));
        Assert.True(System.IO.File.Exists(extraction));
    }

    private string Folder(string name, params (string File, DateTime Written)[] files)
    {
        var folder = Directory.CreateDirectory(Path.Combine(_root.FullName, name)).FullName;
        foreach (var (file, written) in files)
        {
            var path = Path.Combine(folder, file);
            System.IO.File.WriteAllBytes(path, [1, 2, 3]);
            System.IO.File.SetLastWriteTimeUtc(path, written);
        }

        Directory.SetLastWriteTimeUtc(folder, files.Max(f => f.Written));
        return folder;
    }

    private string File(string name, DateTime written)
    {
        var path = Path.Combine(_root.FullName, name);
        System.IO.File.WriteAllBytes(path, [1, 2, 3]);
        System.IO.File.SetLastWriteTimeUtc(path, written);
        return path;
    }

    public void Dispose() => _root.Delete(recursive: true);
}
