using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Options;
using Sunaiva.Integration;

namespace Sunaiva.ServiceDefaults.Tests.Integration;

/// <summary>Run-time chaos switches answer only in Development, or where configuration switches them on.</summary>
public sealed class ChaosGateTests
{
    [Fact]
    public void Chaos_switch_is_refused_in_Production_with_a_403_problem_naming_the_setting()
    {
        using var kernel = new KernelHost();

        var answer = Put(kernel, Environments.Production);

        var problem = Assert.IsType<ProblemHttpResult>(answer.Result);
        Assert.Equal(StatusCodes.Status403Forbidden, problem.StatusCode);
        Assert.Contains("Integration:Chaos:AllowInProduction", problem.ProblemDetails.Detail);
        Assert.False(kernel.Services.GetRequiredService<ChaosControl>().Current["primary"].Outage);
    }

    [Fact]
    public void Chaos_switch_is_accepted_in_Development()
    {
        using var kernel = new KernelHost();

        var answer = Put(kernel, Environments.Development);

        Assert.IsType<Ok<ChaosReport>>(answer.Result);
        Assert.True(kernel.Services.GetRequiredService<ChaosControl>().Current["primary"].Outage);
    }

    [Fact]
    public void Chaos_switch_is_accepted_in_Production_when_configuration_allows_it()
    {
        using var kernel = new KernelHost(new Dictionary<string, string?> { ["Integration:Chaos:AllowInProduction"] = "true" });

        var answer = Put(kernel, Environments.Production);

        Assert.IsType<Ok<ChaosReport>>(answer.Result);
        Assert.True(kernel.Services.GetRequiredService<ChaosControl>().Current["primary"].Outage);
    }

    private static Results<Ok<ChaosReport>, ProblemHttpResult> Put(KernelHost kernel, string environment) =>
        IntegrationOpsApi.PutChaos(
            new ChaosUpdate { Provider = "primary", Outage = true },
            kernel.Services.GetRequiredService<ChaosControl>(),
            kernel.Services.GetRequiredService<IntegrationRuntime>(),
            kernel.Services.GetRequiredService<ServiceIdentity>(),
            new HostingEnvironment { EnvironmentName = environment },
            kernel.Services.GetRequiredService<IOptions<IntegrationOptions>>());
}
