using System.Diagnostics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelContextProtocol;
using ModelContextProtocol.Protocol;
using Sunaiva.Integration;
using Sunaiva.ServiceDefaults.Auth;

namespace Sunaiva.ServiceDefaults.Mcp;

/// <summary>
/// The MCP server every service shares: streamable HTTP on <c>/mcp</c>, stateless (no session to pin a caller to a
/// replica), behind the same JWT bearer auth as the REST API, each tool call metered (capability <c>mcp</c>, provider
/// the service, operation the tool) and every failure answered as an MCP tool error, never a 500.
/// </summary>
public static partial class McpExtensions
{
    public const string Path = "/mcp";

    /// <summary>Adds the MCP server; <paramref name="tools"/> registers the service's tools (<c>b.WithTools&lt;T&gt;()</c>).</summary>
    public static IHostApplicationBuilder AddSunaivaMcp(this IHostApplicationBuilder builder, Action<IMcpServerBuilder> tools)
    {
        builder.Services.AddHttpContextAccessor();
        builder.Services.AddScoped<McpCaller>();
        var mcp = builder.Services.AddMcpServer(o => o.ServerInfo = new Implementation { Name = builder.Environment.ApplicationName, Version = "1.0" })
            .WithHttpTransport(o => o.Stateless = true)
            .WithRequestFilters(f => f.AddCallToolFilter(next => async (context, ct) =>
            {
                var services = context.Services!;
                var meter = services.GetRequiredService<IIntegrationMeter>();
                var time = services.GetRequiredService<TimeProvider>();
                var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(McpExtensions));
                var tool = context.Params?.Name ?? "unknown";
                var userId = context.User?.FindFirst("sub")?.Value;
                var started = time.GetTimestamp();
                using var _ = MeteringContext.ForUser(userId);
                try
                {
                    var result = await next(context, ct);
                    meter.Record(new MeteredCall("mcp", "mcp-tools", tool, "tool-calls", 1, time.GetElapsedTime(started), result.IsError == true ? CallOutcome.Error : CallOutcome.Ok, userId));
                    return result;
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    meter.Record(new MeteredCall("mcp", "mcp-tools", tool, "tool-calls", 1, time.GetElapsedTime(started), CallOutcome.Error, userId, ex.GetType().Name));
                    var message = ex switch
                    {
                        McpException => ex.Message,
                        ArgumentException => ex.Message,
                        _ => "The tool failed; try again later.",
                    };
                    if (ex is not (McpException or ArgumentException))
                    {
                        LogToolFailed(logger, tool, ex.GetType().Name);
                    }

                    return new CallToolResult { IsError = true, Content = [new TextContentBlock { Text = message }] };
                }
            }));
        tools(mcp);
        return builder;
    }

    /// <summary>Maps <c>/mcp</c>, requiring a valid bearer token (the caller's <c>sub</c> scopes every tool).</summary>
    public static IEndpointConventionBuilder MapSunaivaMcp(this IEndpointRouteBuilder app) =>
        app.MapMcp(Path).RequireAuthorization().ExcludeFromDescription();

    [LoggerMessage(Level = LogLevel.Warning, Message = "MCP tool {Tool} failed ({ExceptionType})")]
    private static partial void LogToolFailed(ILogger logger, string tool, string exceptionType);
}

/// <summary>The user an MCP tool call is made for: the bearer token's <c>sub</c>.</summary>
public sealed class McpCaller(IHttpContextAccessor http)
{
    public string UserId => http.HttpContext?.User is { Identity.IsAuthenticated: true } user
        ? user.UserId()
        : throw new McpException("The call carries no authenticated user.");
}

/// <summary>A tool error the agent should see as is (a missing file, a bad argument): an MCP error result, not a failure.</summary>
public sealed class McpToolException(string message) : McpException(message);
