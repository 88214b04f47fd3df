using System.Runtime.InteropServices;
using Microsoft.Extensions.Options;

namespace Sunaiva.Voice.Pipeline;

/// <summary>The pocketsphinx 5prealpha C API (Debian libpocketsphinx3), bound by P/Invoke: no .NET package wraps it.</summary>
internal static partial class SphinxNative
{
    private const string Sphinx = "libpocketsphinx.so.3";
    private const string SphinxBase = "libsphinxbase.so.3";

    /// <summary>
    /// Every decoder call takes this lock: under concurrent sessions pocketsphinx 5prealpha aborted the process
    /// (assertion in ngram_search_fwdtree prune_nonroot_chan), which points at state shared between decoders.
    /// Decoding is CPU-bound and a call is a few milliseconds, so serializing costs little on a 2-core host.
    /// </summary>
    internal static readonly Lock Gate = new();

    [LibraryImport(Sphinx, EntryPoint = "ps_args")]
    internal static partial IntPtr Args();

    [LibraryImport(SphinxBase, EntryPoint = "cmd_ln_parse_r", StringMarshalling = StringMarshalling.Utf8)]
    internal static partial IntPtr ParseArguments(IntPtr config, IntPtr definitions, int argc, [In] string[] argv, int strict);

    [LibraryImport(Sphinx, EntryPoint = "ps_init")]
    internal static partial IntPtr Init(IntPtr config);

    [LibraryImport(Sphinx, EntryPoint = "ps_free")]
    internal static partial int Free(IntPtr decoder);

    [LibraryImport(Sphinx, EntryPoint = "ps_start_utt")]
    internal static partial int StartUtterance(IntPtr decoder);

    [LibraryImport(Sphinx, EntryPoint = "ps_process_raw")]
    internal static unsafe partial int ProcessRaw(IntPtr decoder, short* data, nuint samples, int noSearch, int fullUtterance);

    [LibraryImport(Sphinx, EntryPoint = "ps_end_utt")]
    internal static partial int EndUtterance(IntPtr decoder);

    [LibraryImport(Sphinx, EntryPoint = "ps_get_hyp")]
    internal static partial IntPtr GetHypothesis(IntPtr decoder, out int bestScore);
}

/// <summary>pocketsphinx could not recognize (library or model missing, no free decoder, decoder error).</summary>
public sealed class SpeechRecognitionUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// pocketsphinx decoders loaded once per process (acoustic model, language model and dictionary of
/// pocketsphinx-en-us) and lent to one utterance at a time; an utterance streams its audio in as it arrives.
/// </summary>
public sealed partial class SphinxDecoderPool : IDisposable
{
    private readonly PipelineOptions _options;
    private readonly ILogger<SphinxDecoderPool> _logger;
    private readonly SemaphoreSlim _free;
    private readonly System.Collections.Concurrent.ConcurrentBag<IntPtr> _decoders = [];
    private readonly List<IntPtr> _all = [];
    private readonly Lock _loadLock = new();
    private bool _loaded;
    private bool _disposed;
    private string? _loadError;

    public SphinxDecoderPool(IOptions<PipelineOptions> options, ILogger<SphinxDecoderPool> logger)
    {
        _options = options.Value;
        _logger = logger;
        _free = new SemaphoreSlim(0, _options.DecoderPoolSize);
    }

    /// <summary>Null when loaded (or not tried yet); otherwise why speech-to-text cannot run.</summary>
    public string? LoadError => _loadError;

    /// <summary>Loads the decoders (a second or two each); the warm-up service calls it at start.</summary>
    public void EnsureLoaded()
    {
        lock (_loadLock)
        {
            if (_loaded)
            {
                return;
            }

            _loaded = true;
            try
            {
                var dir = _options.SphinxModelDirectory;
                string[] argv =
                [
                    "-hmm", Path.Combine(dir, "en-us"),
                    "-lm", Path.Combine(dir, "en-us.lm.bin"),
                    "-dict", Path.Combine(dir, "cmudict-en-us.dict"),
                    "-logfn", "/dev/null",
                    // One forward pass: the second (flat) pass and the lattice best path would add most of the final-result latency.
                    "-fwdflat", "no",
                    "-bestpath", "no",
                ];
                for (var i = 0; i < _options.DecoderPoolSize; i++)
                {
                    var config = SphinxNative.ParseArguments(IntPtr.Zero, SphinxNative.Args(), argv.Length, argv, 1);
                    if (config == IntPtr.Zero)
                    {
                        throw new SpeechRecognitionUnavailableException("pocketsphinx refused its configuration.");
                    }

                    IntPtr decoder;
                    lock (SphinxNative.Gate)
                    {
                        decoder = SphinxNative.Init(config);
                    }

                    if (decoder == IntPtr.Zero)
                    {
                        throw new SpeechRecognitionUnavailableException($"pocketsphinx could not load its models from {dir}.");
                    }

                    _all.Add(decoder);
                    _decoders.Add(decoder);
                    _free.Release();
                }
            }
            catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException or SpeechRecognitionUnavailableException)
            {
                _loadError = e is SpeechRecognitionUnavailableException ? e.Message : "libpocketsphinx3 is not installed.";
                LogUnavailable(_logger, _loadError);
            }
        }
    }

    /// <summary>Starts an utterance on a free decoder (waits up to <see cref="PipelineOptions.DecoderWait"/>).</summary>
    public async ValueTask<SphinxUtterance> StartAsync(CancellationToken ct)
    {
        EnsureLoaded();
        if (_loadError is { } error)
        {
            throw new SpeechRecognitionUnavailableException(error);
        }

        if (!await _free.WaitAsync(_options.DecoderWait, ct) || !_decoders.TryTake(out var decoder))
        {
            throw new SpeechRecognitionUnavailableException("No speech decoder became free in time.");
        }

        int started;
        lock (SphinxNative.Gate)
        {
            started = SphinxNative.StartUtterance(decoder);
        }

        if (started < 0)
        {
            Return(decoder);
            throw new SpeechRecognitionUnavailableException("pocketsphinx could not start an utterance.");
        }

        return new SphinxUtterance(this, decoder);
    }

    internal void Return(IntPtr decoder)
    {
        lock (_loadLock)
        {
            if (_disposed)
            {
                // The pool went away while this utterance ran (shutdown): free the decoder now that nobody uses it.
                lock (SphinxNative.Gate)
                {
                    _ = SphinxNative.Free(decoder);
                }

                return;
            }

            _decoders.Add(decoder);
        }

        _free.Release();
    }

    /// <summary>Frees the idle decoders; one still lent to an utterance is freed when it comes back (freeing it under a running decode would crash the process).</summary>
    public void Dispose()
    {
        lock (_loadLock)
        lock (SphinxNative.Gate)
        {
            _disposed = true;
            while (_decoders.TryTake(out var decoder))
            {
                _ = SphinxNative.Free(decoder);
            }

            // No cmd_ln_free_r: ps_init takes ownership of its configuration and ps_free releases it (freeing it here
            // as well was a double free that crashed the process at shutdown).
            _all.Clear();
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Speech-to-text unavailable: {Reason}")]
    private static partial void LogUnavailable(ILogger logger, string reason);
}

/// <summary>
/// One utterance on a lent decoder: audio in as it arrives, partial hypotheses, the final text at the end. Thread-safe:
/// the session may dispose it (socket replaced, shutdown) while the receive loop still feeds it, so every native call
/// checks, under the decoder lock, that the decoder is still lent to this utterance.
/// </summary>
public sealed class SphinxUtterance : IDisposable
{
    private readonly SphinxDecoderPool _pool;
    private IntPtr _decoder;
    private bool _ended;

    internal SphinxUtterance(SphinxDecoderPool pool, IntPtr decoder)
    {
        _pool = pool;
        _decoder = decoder;
    }

    public long SamplesFed { get; private set; }

    /// <summary>Decodes more audio; ignored once the utterance is ended or disposed (its audio no longer matters).</summary>
    public unsafe void Feed(ReadOnlySpan<short> samples)
    {
        int processed;
        fixed (short* p = samples)
        {
            lock (SphinxNative.Gate)
            {
                if (_decoder == IntPtr.Zero || _ended)
                {
                    return;
                }

                processed = SphinxNative.ProcessRaw(_decoder, p, (nuint)samples.Length, 0, 0);
            }
        }

        if (processed < 0)
        {
            throw new SpeechRecognitionUnavailableException("pocketsphinx failed on the audio.");
        }

        SamplesFed += samples.Length;
    }

    /// <summary>True once <see cref="Finish"/> ended the utterance (a speculative end of turn).</summary>
    public bool Ended => _ended;

    /// <summary>
    /// Speech went on after a speculative <see cref="Finish"/>: starts the utterance again on the same decoder and decodes
    /// the turn's audio so far, so the final text covers the whole sentence.
    /// </summary>
    public unsafe void Restart(ReadOnlySpan<short> audio)
    {
        int processed;
        fixed (short* p = audio)
        {
            lock (SphinxNative.Gate)
            {
                if (_decoder == IntPtr.Zero)
                {
                    throw new SpeechRecognitionUnavailableException("The utterance was abandoned.");
                }

                if (_ended && SphinxNative.StartUtterance(_decoder) < 0)
                {
                    throw new SpeechRecognitionUnavailableException("pocketsphinx could not start an utterance.");
                }

                _ended = false;
                processed = SphinxNative.ProcessRaw(_decoder, p, (nuint)audio.Length, 0, 0);
            }
        }

        if (processed < 0)
        {
            throw new SpeechRecognitionUnavailableException("pocketsphinx failed on the audio.");
        }

        SamplesFed = audio.Length;
    }

    public string Partial()
    {
        lock (SphinxNative.Gate)
        {
            return _decoder == IntPtr.Zero ? string.Empty : Hypothesis();
        }
    }

    /// <summary>Ends the utterance and returns its best hypothesis (lower case words, possibly empty).</summary>
    public string Finish()
    {
        lock (SphinxNative.Gate)
        {
            if (_decoder == IntPtr.Zero)
            {
                throw new SpeechRecognitionUnavailableException("The utterance was abandoned.");
            }

            if (!_ended)
            {
                _ended = true;
                if (SphinxNative.EndUtterance(_decoder) < 0)
                {
                    throw new SpeechRecognitionUnavailableException("pocketsphinx failed to end the utterance.");
                }
            }

            return Hypothesis();
        }
    }

    // Callers hold SphinxNative.Gate.
    private string Hypothesis()
    {
        var hyp = SphinxNative.GetHypothesis(_decoder, out _);
        return hyp == IntPtr.Zero ? string.Empty : Marshal.PtrToStringUTF8(hyp) ?? string.Empty;
    }

    public void Dispose()
    {
        IntPtr decoder;
        lock (SphinxNative.Gate)
        {
            decoder = _decoder;
            if (decoder == IntPtr.Zero)
            {
                return;
            }

            if (!_ended)
            {
                _ = SphinxNative.EndUtterance(decoder);
            }

            _decoder = IntPtr.Zero;
        }

        _pool.Return(decoder);
    }
}
