using System.Security.Claims;
using System.Text;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;

namespace Sunaiva.ServiceDefaults.Auth;

public static class AuthenticationExtensions
{
    public const string OpsPolicy = "ops";
    public const string OpsRole = "ops";

    public static IHostApplicationBuilder AddSunaivaAuthentication(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<JwtOptions>()
            .BindConfiguration(JwtOptions.SectionName)
            .ValidateDataAnnotations()
            .ValidateOnStart();

        builder.Services.AddAuthentication(JwtBearerDefaults.AuthenticationScheme).AddJwtBearer();
        builder.Services.AddOptions<JwtBearerOptions>(JwtBearerDefaults.AuthenticationScheme)
            .Configure<IOptions<JwtOptions>>((bearer, jwt) =>
            {
                var options = jwt.Value;
                bearer.MapInboundClaims = false;
                bearer.RequireHttpsMetadata = false;
                bearer.TokenValidationParameters = new TokenValidationParameters
                {
                    ValidIssuer = options.Issuer,
                    ValidAudience = options.Audience,
                    IssuerSigningKey = new SymmetricSecurityKey(Encoding.UTF8.GetBytes(options.SigningKey)),
                    ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
                    NameClaimType = "sub",
                    RoleClaimType = "role",
                    ClockSkew = TimeSpan.FromSeconds(30),
                };
                bearer.Events = new JwtBearerEvents
                {
                    // Why a token failed helps an attacker tune forgeries: the log keeps the reason, the client learns only invalid_token.
                    OnChallenge = context =>
                    {
                        if (context.AuthenticateFailure is { } failure)
                        {
                            context.Error = "invalid_token";
                            context.ErrorDescription = null;
                            context.ErrorUri = null;
                            var logger = context.HttpContext.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(AuthenticationExtensions).FullName!);
                            AuthLog.TokenRejected(logger, failure.GetType().Name, failure.Message);
                        }

                        return Task.CompletedTask;
                    },
                    // Every user-facing query is scoped by sub: a token without a real subject would share one anonymous account.
                    OnTokenValidated = context =>
                    {
                        var subject = context.Principal?.FindFirstValue("sub");
                        if (string.IsNullOrWhiteSpace(subject) || subject.Length > 100 || Sunaiva.Contracts.InputRules.HasControlCharacters(subject))
                        {
                            context.Fail("The token has no usable subject.");
                        }

                        return Task.CompletedTask;
                    },
                };
            });

        builder.Services.AddAuthorizationBuilder()
            .SetFallbackPolicy(null)
            .AddPolicy(OpsPolicy, p => p.RequireAuthenticatedUser().RequireRole(OpsRole));
        return builder;
    }

    /// <summary>The caller's user id (the token's <c>sub</c>).</summary>
    public static string UserId(this ClaimsPrincipal user) =>
        user.FindFirstValue("sub") ?? throw new InvalidOperationException("The token carries no sub claim.");

    public static bool IsOps(this ClaimsPrincipal user) => user.IsInRole(OpsRole);

    public static TBuilder RequireOps<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder => builder.RequireAuthorization(OpsPolicy);
}

internal static partial class AuthLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Bearer token rejected ({FailureType}): {Reason}")]
    public static partial void TokenRejected(ILogger logger, string failureType, string reason);
}
